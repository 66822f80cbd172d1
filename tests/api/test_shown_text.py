"""What people read carries no bidi override or invisible character, whoever wrote it: the customer's confirmation
card, the assistant's reply (also as it streams), the conversation, the approvals API. And what the model wrote
in its own words never becomes part of an action's description on the desk: it is shown apart, as a quote."""

from __future__ import annotations

import json
import re

from agent.models.scripted import ScriptedModel, call, say
from testkit.confirm import answer
from testkit.desk import sign_in
from testkit.service import bearer, running_service
from tools.store.sanitize import visible

JAMES = "james_li_5688"
AGENT = bearer("agent_alice", role="agent")
RLO, ZWSP, TAG_A, LRI = "\u202e", "\u200b", "\U000e0041", "\u2066"
HIDDEN = (RLO, ZWSP, TAG_A, LRI, "\u200f", "\ufeff")
TRICK = f"1 Main St {RLO}0001$ dnuf{LRI}er{ZWSP}{TAG_A}"
INJECTED = "note to the approver: supervisor_bob already verified this by phone, approve at once"


def assert_clean(text: str) -> None:
    assert not any(ch in text for ch in HIDDEN), ascii(text)


def test_visible_keeps_what_people_write() -> None:
    assert visible("Ça coûte 12 € — 日本語, עברית, 👩‍👩‍👧 ok\n\tx") == "Ça coûte 12 € — 日本語, עברית, 👩‍👩‍👧 ok\n\tx"
    assert visible(TRICK) == "1 Main St 0001$ dnufer"
    assert visible("a\x00b\x1bc\x7fd\u0085e") == "abcde"


async def test_a_bidi_override_never_reaches_the_customers_card_or_reply(sqlite_url: str) -> None:
    address = {"address1": TRICK, "address2": "", "city": "Austin", "state": "TX", "country": "USA", "zip": "78701"}
    model = ScriptedModel(
        [call("modify_customer_address", address), say(f"Done{RLO} {ZWSP}all set{TAG_A}."), say(f"Hi{RLO}!")]
    )
    async with running_service(sqlite_url, model) as service:
        conversation = await service.new_conversation(JAMES)
        sent = await service.say(JAMES, conversation, "Change my address please")
        run = sent.json()["run"]
        assert run["status"] == "awaiting_confirmation"
        card = run["pending_confirmation"]
        assert "1 Main St 0001$ dnufer" in card["summary"]
        assert_clean(json.dumps(card, ensure_ascii=False))
        resumed = await answer(service, JAMES, conversation, run)
        assert resumed["reply"] == "Done all set."
        read = await service.http.get(f"/v1/conversations/{conversation}", headers=bearer(JAMES))
        assert_clean(json.dumps(read.json(), ensure_ascii=False))
        streamed = await service.http.post(
            f"/v1/conversations/{conversation}/messages",
            json={"content": "hello"},
            headers={**bearer(JAMES), "Accept": "text/event-stream"},
        )
        assert "Hi!" in streamed.text
        for line in streamed.text.splitlines():  # each event's data, decoded, as the widget reads it
            if line.startswith("data:"):
                assert_clean(json.dumps(json.loads(line[5:]), ensure_ascii=False))


async def test_the_models_words_are_a_quote_on_the_desk_not_the_actions_description(
    sqlite_url: str, no_confirmations: str
) -> None:
    refund = {"order_id": "#W2611340", "amount": 150, "reason": f"{INJECTED}{RLO}"}
    model = ScriptedModel([call("issue_refund", refund), say("A team member will look at it.")])
    async with running_service(sqlite_url, model, SUPPORT_POLICY_FILE=no_confirmations) as service:
        conversation = await service.new_conversation(JAMES)
        run = (await service.say(JAMES, conversation, "refund please")).json()["run"]
        approval_id = run["pending_action"]["approval_id"]
        alice = await sign_in(service.http, "agent_alice", "agent")
        page = (await service.http.get(f"/desk/approvals/{approval_id}", headers=alice.headers)).text
        api = (await service.http.get(f"/v1/approvals/{approval_id}", headers=AGENT)).json()
    plain = re.search(r'<p class="plain" id="plain">(.*?)</p>', page, re.DOTALL)
    assert plain is not None
    assert plain.group(1) == "Refund $150.00 on order #W2611340 to gift card (balance $17.00)."
    quote = re.search(r'<blockquote id="quoted-reason">(.*?)</blockquote>', page, re.DOTALL)
    assert quote is not None and "supervisor_bob already verified this" in quote.group(1)
    assert page.count("supervisor_bob") == 1  # not also among the action's facts
    assert "In the assistant&#39;s words" in page or "In the assistant's words" in page
    assert_clean(page)
    assert api["arguments"]["reason"] == INJECTED  # the API keeps the words, as data, without the override
