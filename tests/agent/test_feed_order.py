"""Feed ids become visible in id order within a conversation, even when two transactions write its events at
once: otherwise a reader that saw id N+1 commit first would resume after it and never see N."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from sqlalchemy import text
from sqlmodel import select

from agent.conversations import feed
from agent.conversations.store import RunStore, RunTotals
from agent.conversations.tables import ChatMessage, Conversation, Run
from basics.database import Database


async def someone_waits_for_a_lock(database: Database) -> bool:
    async with database.session(readonly=True) as session:
        found = await session.exec(  # type: ignore[call-overload]
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        )
        return bool(found.scalar_one())


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # SQLite writes one at a time anyway
async def test_a_later_writer_of_the_same_conversation_commits_after_the_earlier_one(database_url: str) -> None:
    database = Database(database_url)
    try:
        conversation = (await RunStore(database).create_conversation("james_li_5688")).id
        first_done, first_recorded = asyncio.Event(), asyncio.Event()

        async def first_writer() -> None:
            async with database.session() as session:
                await feed.record(session, [feed.event("run.started", conversation, run_id="run_first")])
                first_recorded.set()  # it holds the conversation's lock now
                await first_done.wait()  # hold the transaction open, its id drawn, not yet committed
                await session.commit()

        async def second_writer() -> None:
            async with database.session() as session:
                await feed.record(session, [feed.event("run.started", conversation, run_id="run_second")])
                await session.commit()

        first = asyncio.create_task(first_writer())
        await asyncio.wait_for(first_recorded.wait(), 10)
        second = asyncio.create_task(second_writer())
        # the second waits for the first's lock, rather than drawing a later id and committing before it
        await eventually(lambda: someone_waits_for_a_lock(database))
        async with database.session(readonly=True) as session:
            assert await feed.events_after(session, conversation, 0, limit=10) == []
        first_done.set()
        await asyncio.gather(first, second)
        async with database.session(readonly=True) as session:
            rows = await feed.events_after(session, conversation, 0, limit=10)
        assert [row.run_id for row in rows] == ["run_first", "run_second"]
    finally:
        await database.dispose()


async def finish(store: RunStore, run: Run) -> Run:
    totals = RunTotals(
        model_calls=1, input_tokens=10, output_tokens=5, cache_read_tokens=0, cache_write_tokens=0, cost_micro_usd=0
    )
    return await store.finish_turn(
        run, status="completed", reply="Done.", transcript=[], totals=totals, model_provider="scripted", model_name="s"
    )


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_turns_close_draws_its_feed_ids_only_once_it_holds_the_conversation(database_url: str) -> None:
    """The close's events ride on its batched statement: if they drew their ids before the release took the row
    lock, a writer that held the lock first and drew its id later would commit an id the close's precede."""
    database = Database(database_url)
    try:
        store = RunStore(database)
        conversation = await store.create_conversation("james_li_5688")
        started = await store.start_turn(conversation, "Where is my order?")
        locked, drawn = asyncio.Event(), asyncio.Event()

        async def holder() -> None:
            async with database.session() as session:
                await session.exec(  # type: ignore[call-overload]
                    text("SELECT id FROM conversations WHERE id = :id FOR NO KEY UPDATE"),
                    params={"id": conversation.id},
                )
                locked.set()
                await drawn.wait()  # the close is waiting on the lock by now
                await feed.record(
                    session, [feed.event("run.started", conversation.id, run_id="run_holder")], conversation_locked=True
                )
                await session.commit()

        holding = asyncio.create_task(holder())
        await asyncio.wait_for(locked.wait(), 10)
        closing = asyncio.create_task(finish(store, started.run))
        await eventually(lambda: someone_waits_for_a_lock(database))
        drawn.set()
        await asyncio.gather(holding, closing)
        async with database.session(readonly=True) as session:
            rows = await feed.events_after(session, conversation.id, 0, limit=10)
        kinds = [(row.kind, row.run_id) for row in rows]
        run_id = started.run.id
        assert kinds == [
            ("message.created", run_id),
            ("run.started", run_id),
            ("run.started", "run_holder"),
            ("message.created", run_id),
            ("run.completed", run_id),
        ]
    finally:
        await database.dispose()


async def test_a_run_whose_claim_was_taken_over_still_tells_the_feed_how_it_ended(database_url: str) -> None:
    """Its release gives nothing back (the claim is another run's now), but still takes the conversation's row, so
    the events that ride on it are stored, in order, and the other run keeps its claim."""
    database = Database(database_url)
    try:
        store = RunStore(database)
        conversation = await store.create_conversation("james_li_5688")
        started = await store.start_turn(conversation, "Where is my order?")
        async with database.session() as session:
            await session.exec(  # type: ignore[call-overload]
                text("UPDATE conversations SET active_run_id = 'run_other' WHERE id = :id"),
                params={"id": conversation.id},
            )
            await session.commit()
        await finish(store, started.run)
        async with database.session(readonly=True) as session:
            rows = await feed.events_after(session, conversation.id, 0, limit=10)
            reply = (await session.exec(select(ChatMessage).where(ChatMessage.role == "assistant"))).one()
            claim = await session.get(Conversation, conversation.id)
        assert claim is not None and claim.active_run_id == "run_other"
        assert [row.kind for row in rows] == ["message.created", "run.started", "message.created", "run.completed"]
        assert rows[2].data["message"]["id"] == reply.id and rows[2].data["message"]["content"] == "Done."
        assert rows[3].data["run"]["status"] == "completed"
    finally:
        await database.dispose()


async def eventually(check: Callable[[], Awaitable[bool]]) -> None:
    """Wait (at most 10 s) for a condition of another session that no event of ours can signal."""
    for _ in range(1000):
        if await check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the condition never held")
