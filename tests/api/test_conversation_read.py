"""`GET /v1/conversations/{id}` as a widget opened again reads it: every held call with how it ended (not only
the open one), and whether a hand-off is open now. The widget rebuilds its panel from this alone, so a card the
customer answered before a reload still says what became of it, and a hand-off closed meanwhile shows no wait.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import update
from sqlmodel import col

from agent.conversations.feed import events_after
from agent.conversations.tables import Approval
from agent.models.scripted import ScriptedModel, call, say
from basics.clock import utcnow
from testkit.confirm import answer, proposed
from testkit.service import ServiceClient, bearer, running_service

SMALL = "#W6247578"  # pending, $53.27 paid: its cancellation runs on the customer's confirm alone
SMALL_OWNER = "yusuf_rossi_9620"
JAMES = "james_li_5688"


def agent() -> dict[str, str]:
    return bearer("agent_alice", role="agent")


def cancel_small() -> Any:
    return call("cancel_pending_order", {"order_id": SMALL, "reason": "no longer needed"})


async def asked(service: ServiceClient, customer: str, text: str = "cancel it") -> tuple[str, dict[str, Any]]:
    conversation, run = await proposed(service, customer, text)
    assert run["status"] == "awaiting_confirmation", run
    return conversation, run


async def read(service: ServiceClient, customer: str, conversation: str) -> dict[str, Any]:
    got = await service.http.get(f"/v1/conversations/{conversation}", headers=bearer(customer))
    assert got.status_code == 200, got.text
    body: dict[str, Any] = got.json()
    return body


async def test_every_confirmation_is_listed_with_how_it_ended(database_url: str) -> None:
    model = ScriptedModel(
        [
            cancel_small(),  # declined
            say("Alright, nothing was changed."),
            cancel_small(),  # withdrawn by a new message
            say("Sure, what else can I do?"),
            cancel_small(),  # left to expire
            cancel_small(),  # still open
        ]
    )
    async with running_service(database_url, model) as service:
        declined, run = await asked(service, SMALL_OWNER)
        await answer(service, SMALL_OWNER, declined, run, decision="decline")

        withdrawn, run = await asked(service, SMALL_OWNER)
        moved_on = await service.say(SMALL_OWNER, withdrawn, "actually, never mind")
        assert moved_on.status_code == 200, moved_on.text

        expired, run = await asked(service, SMALL_OWNER)
        async with service.services.database.session() as session:
            await session.exec(
                update(Approval)
                .where(col(Approval.id) == run["pending_confirmation"]["id"])
                .values(expires_at=utcnow() - timedelta(seconds=1))
            )
            await session.commit()
        late = await service.http.post(
            f"/v1/conversations/{expired}/confirmations/{run['pending_confirmation']['id']}",
            json={"decision": "confirm"},
            headers=bearer(SMALL_OWNER),
        )
        assert late.status_code == 409

        still_open, run = await asked(service, SMALL_OWNER)

        for conversation, status, decision in [
            (declined, "rejected", "decline"),
            (withdrawn, "withdrawn", "withdrawn"),
            (expired, "expired", "expired"),
            (still_open, "pending", None),
        ]:
            body = await read(service, SMALL_OWNER, conversation)
            [held] = body["held_calls"]
            assert held["kind"] == "confirmation"
            assert (held["status"], held["decision"]) == (status, decision), conversation
            assert held["summary"].startswith(f"cancel order {SMALL}"), held["summary"]
            assert held["tool"] == "cancel_pending_order" and held["note"] is None
            assert (held["decided_at"] is None) == (decision is None)
            assert held["run_id"] == body["runs"][0]["id"]
            assert body["handoff"] is None
        assert (await read(service, SMALL_OWNER, still_open))["runs"][-1]["pending_confirmation"]["id"] == held["id"]
    model.assert_done()


async def test_a_confirmed_call_reads_as_confirmed_after_it_ran(sqlite_url: str) -> None:
    async with running_service(sqlite_url) as service:  # the offline model, through the same gate
        conversation, run = await asked(service, SMALL_OWNER, f"Please cancel {SMALL}, I no longer need it")
        await answer(service, SMALL_OWNER, conversation, run)
        [held] = (await read(service, SMALL_OWNER, conversation))["held_calls"]
        assert (held["status"], held["decision"]) == ("executed", "confirm")


async def test_an_amended_approval_reads_back_with_the_amount_approved_and_the_note(sqlite_url: str) -> None:
    async with running_service(sqlite_url) as service:
        conversation, run = await asked(service, JAMES, "Order #W2611340 arrived damaged, please refund $150")
        waiting = await answer(service, JAMES, conversation, run)
        assert waiting["status"] == "awaiting_approval", waiting
        approval_id = waiting["pending_action"]["approval_id"]
        proposed = (await service.http.get(f"/v1/approvals/{approval_id}", headers=agent())).json()
        decided = await service.http.post(
            f"/v1/approvals/{approval_id}/approve",
            json={"note": "Refunding the damaged item only", "arguments": {**proposed["arguments"], "amount": 120}},
            headers=agent(),
        )
        assert decided.status_code == 200, decided.text

        body = await read(service, JAMES, conversation)
        confirmation, approval = body["held_calls"]
        assert (confirmation["kind"], confirmation["decision"]) == ("confirmation", "confirm")
        assert approval["id"] == approval_id and approval["kind"] == "approval"
        assert (approval["status"], approval["decision"]) == ("executed", "amended")
        assert (approval["amount"], approval["decided_amount"]) == (150, 120)
        assert approval["note"] == "Refunding the damaged item only"
        assert approval["decided_at"] is not None

        async with service.services.database.session(readonly=True) as session:
            events = await events_after(session, conversation, 0, limit=500)
        [told] = [e.data for e in events if e.kind == "approval.decided"]
        assert (told["decision"], told["amount"], told["note"]) == ("amended", 120, "Refunding the damaged item only")


async def test_the_read_says_whether_a_hand_off_is_open_now(sqlite_url: str) -> None:
    async with running_service(sqlite_url) as service:
        conversation = await service.new_conversation(JAMES)
        sent = await service.say(JAMES, conversation, "I would like to talk to a real person please")
        assert sent.json()["run"]["status"] == "handed_off"
        queued = (await read(service, JAMES, conversation))["handoff"]
        assert queued is not None and queued["status"] == "queued"

        assert (await service.http.post(f"/v1/handoffs/{queued['id']}/claim", headers=agent())).status_code == 200
        assert (await read(service, JAMES, conversation))["handoff"] == {"id": queued["id"], "status": "claimed"}

        closed = await service.http.post(f"/v1/handoffs/{queued['id']}/close", json={"outcome": "bot"}, headers=agent())
        assert closed.status_code == 200, closed.text
        body = await read(service, JAMES, conversation)
        assert body["handoff"] is None
        assert body["runs"][-1]["status"] == "handed_off", "the last run still reads handed off: only this says closed"
