"""Tool use on Claude models that think, through the chat API, the real SDK and the strict fake Messages API.

A model that thinks by default answers a tool call as `[thinking, tool_use]`; the API refuses the next request of
the tool loop unless that thinking block comes back first and unchanged, signature included. These tests run each
scenario on a model that thinks by default and on one that does not, over JSON and Server-Sent Events, and finish
with the fake asserting it refused nothing (`assert_done`): the answers are Claude's, not the offline fallback's.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlmodel import col, select

from agent.conversations.tables import Run
from testkit.fakes.anthropic_api import FakeMessagesAPI, Reply, Text, ToolUse, call, say, thought
from testkit.service import ServiceClient, anthropic_settings, bearer, running_service

JAMES = "james_li_5688"
THINKS = "claude-sonnet-5"
PLAIN = "claude-sonnet-4-6"
MODELS = pytest.mark.parametrize("model", [THINKS, PLAIN])
WAYS = pytest.mark.parametrize("streaming", [True, False], ids=["sse", "json"])


@pytest.fixture
def api() -> Iterator[FakeMessagesAPI]:
    with FakeMessagesAPI() as fake:
        yield fake


def on(api: FakeMessagesAPI, model: str) -> dict[str, Any]:
    return {**anthropic_settings(api.base_url), "SUPPORT_MODEL": f"anthropic:{model}"}


async def turn(service: ServiceClient, conversation: str, text: str, *, streaming: bool) -> dict[str, Any]:
    headers = {"Accept": "text/event-stream"} if streaming else {}
    answer = await service.say(JAMES, conversation, text, **headers)
    assert answer.status_code == 200, answer.text
    if not streaming:
        run: dict[str, Any] = answer.json()["run"]
        return run
    from testkit.http_server import parse_sse

    events = parse_sse(answer.text.splitlines())
    ended: dict[str, Any] = events[-1][1]["run"]
    return ended


def thinking_of(reply: Reply) -> list[dict[str, Any]]:
    return [b.to_json() for b in reply.content if b.to_json()["type"] in ("thinking", "redacted_thinking")]


@MODELS
@WAYS
async def test_a_tool_loop_sends_the_thinking_back_unchanged_and_no_blank_text(
    sqlite_url: str, api: FakeMessagesAPI, model: str, streaming: bool
) -> None:
    # Claude sometimes writes "\n\n" before a tool call; it must never be sent back or stored.
    lookup = ToolUse("get_order_details", {"order_id": "#W2611340"})
    api.add(Reply(content=(Text("\n\n"), lookup), stop_reason="tool_use"), say("Order #W2611340 is processed."))
    api.add(say("You're welcome!"))
    async with running_service(sqlite_url, **on(api, model)) as service:
        conversation = await service.new_conversation(JAMES)
        first = await turn(service, conversation, "Where is my order #W2611340?", streaming=streaming)
        second = await turn(service, conversation, "Thanks!", streaming=streaming)
        async with service.services.database.session(readonly=True) as session:
            stored = (await session.exec(select(Run).order_by(col(Run.started_at)))).first()
    assert (first["reply"], first["model"]["provider"]) == ("Order #W2611340 is processed.", "anthropic")
    assert second["reply"] == "You're welcome!" and first["fallback_reason"] is None
    looked_up = api.requests[1].body["messages"][1]
    thought_first = thinking_of(api.sent[0])
    assert [b["type"] for b in looked_up["content"]] == [*(["thinking"] if model == THINKS else []), "tool_use"]
    assert looked_up["content"][: len(thought_first)] == thought_first  # exactly as the API returned it
    assert stored is not None and stored.transcript[1]["content"][: len(thought_first)] == thought_first
    # thinking counts towards max_tokens: a thinking model gets room for it on top of the answer's 1024
    assert {r.body["max_tokens"] for r in api.requests} == {1024 + 8192 if model == THINKS else 1024}
    assert "\n\n" not in str(stored.transcript)
    api.assert_done()  # every request was one the API accepts


@MODELS
async def test_redacted_thinking_goes_back_as_it_came(sqlite_url: str, api: FakeMessagesAPI, model: str) -> None:
    api.add(thought(ToolUse("get_customer_profile", {}), redacted=True), say("You have three orders."))
    async with running_service(sqlite_url, **on(api, model), SUPPORT_THINKING="adaptive") as service:
        conversation = await service.new_conversation(JAMES)
        run = await turn(service, conversation, "What orders do I have?", streaming=True)
    assert run["reply"] == "You have three orders."
    sent_back = api.requests[1].body["messages"][1]["content"]
    assert [b["type"] for b in sent_back] == ["thinking", "redacted_thinking", "tool_use"]
    assert sent_back[:2] == thinking_of(api.sent[0])
    assert api.requests[0].body["thinking"] == {"type": "adaptive"}
    assert api.requests[0].body["max_tokens"] == 1024 + 8192  # room for the thinking, and the answer's own
    api.assert_done()


async def decide(service: ServiceClient, conversation: str, run: dict[str, Any], path: str, **body: Any) -> Any:
    response = await service.http.post(path, json=body, headers=bearer("agent_alice", role="agent"))
    assert response.status_code == 200, response.text
    return response.json()


@MODELS
@WAYS
async def test_runs_resumed_after_a_confirmation_and_an_approval_send_the_thinking_too(
    sqlite_url: str, api: FakeMessagesAPI, model: str, streaming: bool
) -> None:
    """$60 of goodwill: the customer confirms, then (over the $25 tier) a support agent approves; the model answers
    in the resumed run, with the first run's thinking in its history, unchanged."""
    refund = {"order_id": "#W2611340", "amount": 60, "reason": "late delivery"}
    api.add(call("issue_refund", refund, text="I can refund that."), say("Your $60 refund was approved and issued."))
    async with running_service(sqlite_url, **on(api, model)) as service:
        conversation = await service.new_conversation(JAMES)
        asked = await turn(service, conversation, "My order #W2611340 came late, refund $60?", streaming=streaming)
        assert asked["status"] == "awaiting_confirmation", asked
        confirmation = asked["pending_confirmation"]["id"]
        confirmed = await service.http.post(
            f"/v1/conversations/{conversation}/confirmations/{confirmation}",
            json={"decision": "confirm"},
            headers=bearer(JAMES),
        )
        held = confirmed.json()["run"]
        assert held["status"] == "awaiting_approval", held
        approval = held["pending_action"]["approval_id"]
        decided = await decide(service, conversation, held, f"/v1/approvals/{approval}/approve", note="ok")
    assert decided["approval"]["status"] == "executed"
    assert decided["run"]["reply"] == "Your $60 refund was approved and issued."
    resumed = api.requests[1].body["messages"]
    proposal = next(m for m in resumed if m["role"] == "assistant" and m["content"][-1]["type"] == "tool_use")
    assert proposal["content"][: len(thinking_of(api.sent[0]))] == thinking_of(api.sent[0])
    assert (model == THINKS) == bool(thinking_of(api.sent[0]))
    api.assert_done()


@MODELS
async def test_a_confirmed_write_is_answered_by_the_model_with_the_thinking_kept(
    sqlite_url: str, api: FakeMessagesAPI, model: str
) -> None:
    refund = {"order_id": "#W2611340", "amount": 10, "reason": "late delivery"}
    api.add(call("issue_refund", refund), say("Done: $10 is on its way back to your gift card."))
    async with running_service(sqlite_url, **on(api, model)) as service:
        conversation = await service.new_conversation(JAMES)
        asked = await turn(service, conversation, "Refund me $10 for #W2611340, it was late", streaming=False)
        confirmation = asked["pending_confirmation"]["id"]
        confirmed = await service.http.post(
            f"/v1/conversations/{conversation}/confirmations/{confirmation}",
            json={"decision": "confirm"},
            headers=bearer(JAMES),
        )
    run = confirmed.json()["run"]
    assert run["reply"] == "Done: $10 is on its way back to your gift card.", run
    history = api.requests[1].body["messages"]
    assert history[1]["content"][: len(thinking_of(api.sent[0]))] == thinking_of(api.sent[0])
    api.assert_done()


async def test_a_tool_loop_begun_without_thinking_is_finished_without_it(sqlite_url: str, api: FakeMessagesAPI) -> None:
    """Sonnet 5 is overloaded, Haiku 4.5 (no thinking) calls a tool, and the next call goes back to Sonnet 5: its
    thinking is turned off for that one request, since the answer it continues has no thinking block to open with."""
    from testkit.fakes.anthropic_api import overloaded

    api.add(overloaded(), call("get_order_details", {"order_id": "#W2611340"}), say("It is processed."))
    settings = {**on(api, THINKS), "SUPPORT_MODEL_FALLBACKS": "anthropic:claude-haiku-4-5"}
    async with running_service(sqlite_url, **settings) as service:
        conversation = await service.new_conversation(JAMES)
        run = await turn(service, conversation, "Where is my order #W2611340?", streaming=False)
    assert (run["reply"], run["model"]["name"], run["fallback_reason"]) == ("It is processed.", THINKS, None)
    first, by_haiku, finished = (r.body for r in api.requests)
    assert (first["model"], by_haiku["model"], finished["model"]) == (THINKS, "claude-haiku-4-5", THINKS)
    assert "thinking" not in first and finished["thinking"] == {"type": "disabled"}
    assert finished["max_tokens"] == 1024  # no room kept for thinking it will not do
    api.assert_done()
