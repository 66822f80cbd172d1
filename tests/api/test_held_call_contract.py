"""The contract: wherever a run reaches a client (a route's answer, a conversation read, a feed event), it carries
the call it waits on, built in one place (`agent.conversations.records.run_view` of a `HeldRun`). A run
awaiting the customer always shows its card while the card can be answered; a run awaiting a team member always
shows the approval.

The runs here chain writes, as a model does for a request that needs two (8 of the 40 retail tasks that write do):
a cancellation the customer confirms, which the policy holds for a support agent, after whose approval the
model proposes a second write, which waits for the customer again.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select

from agent.conversations.tables import Approval, ConversationEvent
from agent.models.scripted import ScriptedModel, call, say
from testkit.confirm import answer
from testkit.service import ServiceClient, bearer, running_service

LARGE = "#W2974929"  # pending, $182.03 paid: its cancellation needs a support agent
OWNER = "fatima_anderson_2157"
NEW_ADDRESS = {
    "address1": "12 Elm Street",
    "address2": "",
    "city": "Portland",
    "state": "OR",
    "country": "USA",
    "zip": "97201",
}
AGENT = {"role": "agent"}


def cancel_then_move() -> ScriptedModel:
    return ScriptedModel(
        [
            call("cancel_pending_order", {"order_id": LARGE, "reason": "no longer needed"}),
            call("modify_customer_address", NEW_ADDRESS),  # after the approval, the second write
            say("Your order is cancelled and your address is updated."),
        ]
    )


async def pending_calls(service: ServiceClient, conversation: str) -> dict[str, Approval]:
    """The conversation's held calls that are still open, by the run that waits on each."""
    async with service.services.database.session(readonly=True) as session:
        rows = await session.exec(
            select(Approval).where(col(Approval.conversation_id) == conversation, col(Approval.status) == "pending")
        )
        return {held.run_id: held for held in rows.all()}


def assert_carries_its_held_call(run: dict[str, Any], open_calls: dict[str, Approval], where: str) -> None:
    """A run shows the call it waits on exactly while that call is open."""
    held = open_calls.get(run["id"])
    if run["status"] == "awaiting_confirmation" and held is not None:
        card = run["pending_confirmation"]
        assert card is not None, f"{where}: run {run['id']} waits for the customer but carries no card"
        assert (card["id"], card["summary"]) == (held.id, held.summary), where
    elif run["status"] == "awaiting_approval" and held is not None:
        action = run["pending_action"]
        assert action is not None, f"{where}: run {run['id']} waits for a team member but carries no approval"
        assert (action["approval_id"], action["status"]) == (held.id, "pending"), where
    if held is None or held.kind != "confirmation":
        assert run["pending_confirmation"] is None, f"{where}: run {run['id']} shows a card nobody can answer"


async def assert_every_view_agrees(service: ServiceClient, conversation: str) -> None:
    """The conversation read and the feed's run events, checked against the held calls as stored."""
    open_calls = await pending_calls(service, conversation)
    read = await service.http.get(f"/v1/conversations/{conversation}", headers=bearer(OWNER))
    assert read.status_code == 200, read.text
    for run in read.json()["runs"]:
        assert_carries_its_held_call(run, open_calls, "conversation read")
    async with service.services.database.session(readonly=True) as session:
        events = (
            await session.exec(
                select(ConversationEvent).where(
                    col(ConversationEvent.conversation_id) == conversation,
                    col(ConversationEvent.kind).in_(["run.completed", "run.failed"]),
                )
            )
        ).all()
    latest = {e.run_id: e for e in events}  # a feed event is what was open when the run ended
    for run_id, held in open_calls.items():
        if run_id in latest:
            assert_carries_its_held_call(latest[run_id].data["run"], {run_id: held}, "feed run.completed")


async def test_a_chain_of_two_writes_shows_each_open_call_in_every_answer_and_read(database_url: str) -> None:
    async with running_service(database_url, cancel_then_move()) as service:
        conversation = await service.new_conversation(OWNER)
        sent = await service.say(OWNER, conversation, f"Cancel {LARGE} and move my address to 12 Elm Street")
        first = sent.json()["run"]
        assert first["status"] == "awaiting_confirmation" and first["pending_confirmation"]["tool"] == (
            "cancel_pending_order"
        )
        await assert_every_view_agrees(service, conversation)

        escalated = await answer(service, OWNER, conversation, first)  # the policy now wants a support agent
        assert escalated["status"] == "awaiting_approval", escalated
        approval_id = escalated["pending_action"]["approval_id"]
        await assert_every_view_agrees(service, conversation)

        decided = await service.http.post(
            f"/v1/approvals/{approval_id}/approve", json={"note": "ok"}, headers=bearer("agent_alice", **AGENT)
        )
        assert decided.status_code == 200, decided.text
        resumed = decided.json()["run"]
        assert resumed["status"] == "awaiting_confirmation", resumed
        card = resumed["pending_confirmation"]
        assert card is not None, "the approval's answer must carry the card the resumed run waits on"
        assert card["tool"] == "modify_customer_address" and "12 Elm Street" in card["summary"]
        await assert_every_view_agrees(service, conversation)

        staff_read = await service.http.get(f"/v1/approvals/{approval_id}", headers=bearer("agent_alice", **AGENT))
        assert staff_read.status_code == 200

        done = await answer(service, OWNER, conversation, resumed)
        assert done["status"] == "completed" and done["pending_confirmation"] is None
        await assert_every_view_agrees(service, conversation)


async def test_a_card_withdrawn_by_a_new_message_leaves_no_card_and_says_how_it_ended(sqlite_url: str) -> None:
    async with running_service(sqlite_url) as service:  # the offline model
        conversation = await service.new_conversation(OWNER)
        asked = (await service.say(OWNER, conversation, f"Please cancel {LARGE}, I no longer need it")).json()["run"]
        assert asked["pending_confirmation"] is not None
        await service.say(OWNER, conversation, f"Actually, where is {LARGE}?")
        read = (await service.http.get(f"/v1/conversations/{conversation}", headers=bearer(OWNER))).json()
        first = next(r for r in read["runs"] if r["id"] == asked["id"])
        assert first["status"] == "awaiting_confirmation" and first["pending_confirmation"] is None
        [held] = read["held_calls"]
        assert (held["id"], held["decision"]) == (asked["pending_confirmation"]["id"], "withdrawn")
        await assert_every_view_agrees(service, conversation)
