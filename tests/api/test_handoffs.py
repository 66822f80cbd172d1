"""Hand-offs through the API: the queue, one owner at a time, staff replies the customer and the model both see,
no model run while a person owns the conversation, and closing back to the assistant or as resolved.

The model is scripted: a call nobody scripted fails the test, which is how "no model run" is asserted.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from sqlalchemy import update
from sqlmodel import col

from agent.conversations.tables import Conversation
from agent.models.base import ModelRequest
from agent.models.scripted import ScriptedModel, Step, call, say
from agent.turn.replies import HANDED_BACK, HANDED_BACK_ANSWERING
from basics.clock import utcnow
from testkit.service import ServiceClient, bearer, running_service

JAMES = "james_li_5688"
ALICE = bearer("agent_alice", role="agent")
BOB = bearer("agent_bob", role="agent")
SAM = bearer("supervisor_sam", role="supervisor")
SUMMARY = "Customer wants to talk about a late delivery."


async def handed_off(service: ServiceClient) -> tuple[str, dict[str, Any]]:
    """A conversation the assistant passed to the team; returns it and its queued hand-off."""
    conversation = await service.new_conversation(JAMES)
    answer = await service.say(JAMES, conversation, "I want to talk to a person")
    assert answer.status_code == 200, answer.text
    assert answer.json()["run"]["status"] == "handed_off"
    queue = await service.http.get("/v1/handoffs", headers=ALICE)
    assert queue.status_code == 200, queue.text
    mine = [h for h in queue.json() if h["conversation_id"] == conversation]
    assert len(mine) == 1
    return conversation, mine[0]


def transfer() -> Any:
    return call("transfer_to_human_agents", {"summary": SUMMARY})


async def test_a_person_claims_replies_and_hands_back_to_the_assistant(database_url: str) -> None:
    def saw_the_team(request: ModelRequest) -> None:
        said = "\n".join(m.text for m in request.messages)
        assert "agent_alice: Hello, I'm Alice from the team. Your parcel left today." in said
        # What the customer wrote after Alice's last reply is the hand-back run's own message, said once.
        assert request.messages[-1].text == "Thanks, when will it arrive?"
        assert said.count("Thanks, when will it arrive?") == 1

    def saw_it_all(request: ModelRequest) -> None:
        said = "\n".join(m.text for m in request.messages)
        assert said.count("Thanks, when will it arrive?") == 1 and "It should arrive on Friday." in said
        assert request.messages[-1].text == "Anything else I should know?"

    model = ScriptedModel(
        [
            transfer(),
            Step(response=say("It should arrive on Friday."), check=saw_the_team),
            Step(response=say("Alice said it left today."), check=saw_it_all),
        ]
    )
    async with running_service(database_url, model) as service:
        conversation, handoff = await handed_off(service)
        assert handoff["status"] == "queued"
        assert handoff["summary"] == SUMMARY
        assert handoff["reason"] == "transfer_requested"
        assert handoff["customer_id"] == JAMES

        claimed = await service.http.post(f"/v1/handoffs/{handoff['id']}/claim", headers=ALICE)
        assert claimed.status_code == 200, claimed.text
        assert claimed.json()["claimed_by"] == "agent_alice"

        reply = await service.http.post(
            f"/v1/handoffs/{handoff['id']}/messages",
            json={"content": "Hello, I'm Alice from the team. Your parcel left today."},
            headers=ALICE,
        )
        assert reply.status_code == 200, reply.text
        assert reply.json()["message"]["role"] == "agent"
        assert reply.json()["message"]["author_id"] == "agent_alice"

        # While Alice owns it, the customer's message is stored for her and no model run starts.
        owned = await service.say(JAMES, conversation, "Thanks, when will it arrive?")
        assert owned.status_code == 200, owned.text
        assert owned.json()["run"] is None
        assert owned.json()["handoff"] == {"id": handoff["id"], "status": "claimed"}

        read = await service.http.get(f"/v1/conversations/{conversation}", headers=bearer(JAMES))
        assert read.status_code == 200
        assert [(m["role"], m["author_id"]) for m in read.json()["messages"][-2:]] == [
            ("agent", "agent_alice"),
            ("customer", None),
        ]
        assert read.json()["messages"][-2]["content"] == "Hello, I'm Alice from the team. Your parcel left today."
        assert len(read.json()["runs"]) == 1

        detail = await service.http.get(f"/v1/handoffs/{handoff['id']}", headers=ALICE)
        assert [m["content"] for m in detail.json()["conversation"]][-1] == "Thanks, when will it arrive?"

        closed = await service.http.post(f"/v1/handoffs/{handoff['id']}/close", json={"outcome": "bot"}, headers=ALICE)
        assert closed.status_code == 200, closed.text
        assert closed.json()["status"] == "closed" and closed.json()["outcome"] == "bot"
        assert (await service.http.get("/v1/handoffs", headers=ALICE)).json() == []

        # Back with the assistant, which says so, and answers what the customer asked Alice after her reply.
        await service.services.idle()
        read = await service.http.get(f"/v1/conversations/{conversation}", headers=bearer(JAMES))
        said = [(m["role"], m["content"]) for m in read.json()["messages"]]
        assert said[-3:] == [
            ("customer", "Thanks, when will it arrive?"),
            ("assistant", HANDED_BACK_ANSWERING),
            ("assistant", "It should arrive on Friday."),
        ]
        answering = read.json()["runs"][-1]
        assert answering["status"] == "completed" and answering["reply"] == "It should arrive on Friday."
        assert read.json()["messages"][-3]["run_id"] == answering["id"]

        # The next message starts a run, and the model sees what the team said.
        after = await service.say(JAMES, conversation, "Anything else I should know?")
        assert after.status_code == 200, after.text
        assert after.json()["run"]["reply"] == "Alice said it left today."
    model.assert_done()


async def test_handed_back_with_nothing_unanswered_the_customer_is_told_and_no_run_starts(sqlite_url: str) -> None:
    model = ScriptedModel([transfer()])  # a model call after the close would fail the test
    async with running_service(sqlite_url, model) as service:
        conversation, handoff = await handed_off(service)
        base = f"/v1/handoffs/{handoff['id']}"
        assert (await service.http.post(f"{base}/claim", headers=ALICE)).status_code == 200
        assert (await service.say(JAMES, conversation, "Is anyone there?")).status_code == 200
        replied = await service.http.post(f"{base}/messages", json={"content": "Yes, all sorted now."}, headers=ALICE)
        assert replied.status_code == 200
        assert (await service.http.post(f"{base}/close", json={"outcome": "bot"}, headers=ALICE)).status_code == 200
        await service.services.idle()
        read = (await service.http.get(f"/v1/conversations/{conversation}", headers=bearer(JAMES))).json()
        assert [(m["role"], m["content"]) for m in read["messages"][-2:]] == [
            ("agent", "Yes, all sorted now."),
            ("assistant", HANDED_BACK),
        ]
        assert len(read["runs"]) == 1
    model.assert_done()


async def test_resolved_says_nothing_more(sqlite_url: str) -> None:
    model = ScriptedModel([transfer()])
    async with running_service(sqlite_url, model) as service:
        conversation, handoff = await handed_off(service)
        base = f"/v1/handoffs/{handoff['id']}"
        assert (await service.http.post(f"{base}/claim", headers=ALICE)).status_code == 200
        assert (await service.say(JAMES, conversation, "Thanks!")).status_code == 200
        assert (
            await service.http.post(f"{base}/close", json={"outcome": "resolved"}, headers=ALICE)
        ).status_code == 200
        await service.services.idle()
        read = (await service.http.get(f"/v1/conversations/{conversation}", headers=bearer(JAMES))).json()
        assert read["messages"][-1]["content"] == "Thanks!" and len(read["runs"]) == 1
    model.assert_done()


async def test_two_people_claiming_at_once_one_wins(database_url: str) -> None:
    async with running_service(database_url, ScriptedModel([transfer()])) as service:
        _, handoff = await handed_off(service)
        path = f"/v1/handoffs/{handoff['id']}/claim"
        first, second = await asyncio.gather(
            service.http.post(path, headers=ALICE), service.http.post(path, headers=BOB)
        )
        assert sorted([first.status_code, second.status_code]) == [200, 409]
        winner, loser = (first, second) if first.status_code == 200 else (second, first)
        assert loser.json()["error"]["code"] == "handoff_conflict"
        assert winner.json()["claimed_by"] in loser.json()["error"]["message"]
        listed = (await service.http.get("/v1/handoffs?status=claimed", headers=SAM)).json()
        assert [h["claimed_by"] for h in listed] == [winner.json()["claimed_by"]]


async def test_only_the_owner_replies_and_closes(sqlite_url: str) -> None:
    async with running_service(sqlite_url, ScriptedModel([transfer()])) as service:
        conversation, handoff = await handed_off(service)
        base = f"/v1/handoffs/{handoff['id']}"

        early = await service.http.post(f"{base}/messages", json={"content": "hi"}, headers=ALICE)
        assert early.status_code == 409 and "claim it" in early.json()["error"]["message"]
        assert (await service.http.post(f"{base}/claim", headers=ALICE)).status_code == 200

        intruder = await service.http.post(f"{base}/messages", json={"content": "hi"}, headers=BOB)
        assert intruder.status_code == 403 and intruder.json()["error"]["code"] == "not_handoff_owner"
        not_closed = await service.http.post(f"{base}/close", json={"outcome": "resolved"}, headers=BOB)
        assert not_closed.status_code == 403

        empty = await service.http.post(f"{base}/messages", json={"content": "  "}, headers=ALICE)
        assert empty.status_code == 422
        huge = await service.http.post(f"{base}/messages", json={"content": "x" * 9000}, headers=ALICE)
        assert huge.status_code == 413
        bad_outcome = await service.http.post(f"{base}/close", json={"outcome": "later"}, headers=ALICE)
        assert bad_outcome.status_code == 422

        # A supervisor may close any open hand-off; a closed one cannot be claimed or closed again.
        resolved = await service.http.post(f"{base}/close", json={"outcome": "resolved"}, headers=SAM)
        assert resolved.status_code == 200 and resolved.json()["closed_by"] == "supervisor_sam"
        assert (await service.http.post(f"{base}/claim", headers=BOB)).status_code == 409
        again = await service.http.post(f"{base}/close", json={"outcome": "bot"}, headers=SAM)
        assert again.status_code == 409

        read = await service.http.get(f"/v1/conversations/{conversation}", headers=bearer(JAMES))
        assert all(m["role"] != "agent" for m in read.json()["messages"])


async def test_staff_only(sqlite_url: str) -> None:
    async with running_service(sqlite_url, ScriptedModel([transfer()])) as service:
        _, handoff = await handed_off(service)
        assert (await service.http.get("/v1/handoffs")).status_code == 401
        customer = await service.http.get("/v1/handoffs", headers=bearer(JAMES))
        assert customer.status_code == 403
        stolen = await service.http.post(f"/v1/handoffs/{handoff['id']}/claim", headers=bearer(JAMES))
        assert stolen.status_code == 403
        missing = await service.http.post("/v1/handoffs/hoff_nope/claim", headers=ALICE)
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


async def test_a_second_hand_off_of_a_waiting_conversation_keeps_one_queue_entry(sqlite_url: str) -> None:
    async with running_service(sqlite_url, ScriptedModel([transfer(), transfer()])) as service:
        conversation, handoff = await handed_off(service)
        again = await service.say(JAMES, conversation, "Still want a person")
        assert again.json()["run"]["status"] == "handed_off"
        queue = (await service.http.get("/v1/handoffs", headers=ALICE)).json()
        assert [h["id"] for h in queue] == [handoff["id"]]


async def test_a_streaming_client_is_told_its_message_went_to_the_person(sqlite_url: str) -> None:
    async with running_service(sqlite_url, ScriptedModel([transfer()])) as service:
        conversation, handoff = await handed_off(service)
        assert (await service.http.post(f"/v1/handoffs/{handoff['id']}/claim", headers=ALICE)).status_code == 200
        streamed = await service.say(JAMES, conversation, "Are you there?", Accept="text/event-stream")
        assert streamed.status_code == 200
        assert "event: message.created" in streamed.text and "run.started" not in streamed.text
        assert '"run": null' in streamed.text


async def test_a_stale_run_takeover_does_not_bypass_the_owner(database_url: str) -> None:
    async with running_service(database_url, ScriptedModel([transfer()])) as service:
        conversation, handoff = await handed_off(service)
        assert (await service.http.post(f"/v1/handoffs/{handoff['id']}/claim", headers=ALICE)).status_code == 200
        async with service.services.database.session() as session:
            await session.exec(
                update(Conversation)
                .where(col(Conversation.id) == conversation)
                .values(active_run_id="run_of_a_dead_process", active_since=utcnow() - timedelta(hours=1))
            )
            await session.commit()
        owned = await service.say(JAMES, conversation, "Hello?")
        assert owned.status_code == 200, owned.text
        assert owned.json()["run"] is None  # the scripted model has no step left: a run would fail the test
