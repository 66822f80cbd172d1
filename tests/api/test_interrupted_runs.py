"""A run whose process died holds its conversation only until the claim goes stale; then the next message
takes over and the dead run is marked interrupted. A fresh claim still means busy (409)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update
from sqlmodel import col, select

from agent.conversations.tables import Conversation, ConversationEvent, Run
from basics.clock import utcnow
from testkit.service import running_service

JAMES = "james_li_5688"


async def claim(service: object, conversation: str, run_id: str, age: timedelta) -> None:
    database = service.services.database  # type: ignore[attr-defined]
    async with database.session() as session:
        session.add(
            Run(id=run_id, conversation_id=conversation, customer_id=JAMES, status="running", started_at=utcnow() - age)
        )
        await session.flush()
        await session.exec(
            update(Conversation)
            .where(col(Conversation.id) == conversation)
            .values(active_run_id=run_id, active_since=utcnow() - age)
        )
        await session.commit()


async def test_a_fresh_claim_is_busy_and_a_stale_one_is_taken_over(sqlite_url: str) -> None:
    async with running_service(sqlite_url) as service:
        conversation = await service.new_conversation(JAMES)
        await claim(service, conversation, "run_alive", timedelta(seconds=1))
        busy = await service.say(JAMES, conversation, "hello")
        assert busy.status_code == 409 and busy.json()["error"]["code"] == "conversation_busy"

        await claim(service, conversation, "run_dead", timedelta(hours=1))
        answered = await service.say(JAMES, conversation, "hello again")
        assert answered.status_code == 200 and answered.json()["run"]["status"] == "completed"
        async with service.services.database.session(readonly=True) as session:
            dead = await session.get(Run, "run_dead")
            alive = await session.get(Run, "run_alive")
            released = (
                await session.exec(select(Conversation.active_run_id).where(Conversation.id == conversation))
            ).one()
            told = (await session.exec(select(ConversationEvent).where(ConversationEvent.run_id == "run_dead"))).all()
        assert [(e.kind, e.data["run"]["status"], e.data["run"]["id"]) for e in told] == [
            ("run.failed", "failed", "run_dead")  # the conversation feed learns the dead run ended
        ]
        assert dead is not None and dead.status == "failed" and "interrupted" in (dead.error or "")
        assert alive is not None and alive.status == "failed"  # every run left running in it was interrupted
        assert released is None


async def test_a_claim_of_a_run_never_stored_is_taken_over_at_once(database_url: str) -> None:
    """On PostgreSQL a message over the rate limit claims its conversation in the statement that refuses it, and gives
    it back with the next (`PostgresWrites.start_alone`). A process that stops in between leaves a claim of a run
    that was never stored: the next message takes it over at once, not after the claim goes stale."""
    async with running_service(database_url) as service:
        conversation = await service.new_conversation(JAMES)
        async with service.services.database.session() as session:
            await session.exec(
                update(Conversation)
                .where(col(Conversation.id) == conversation)
                .values(active_run_id="run_refused", active_since=utcnow())
            )
            await session.commit()
        answered = await service.say(JAMES, conversation, "hello")
        assert answered.status_code == 200 and answered.json()["run"]["status"] == "completed"
        async with service.services.database.session(readonly=True) as session:
            released = (
                await session.exec(select(Conversation.active_run_id).where(Conversation.id == conversation))
            ).one()
    assert released is None
