"""Feed ids become visible in id order within a conversation, even when two transactions write its events at
once: otherwise a reader that saw id N+1 commit first would resume after it and never see N."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from sqlalchemy import text

from agent import feed
from agent.run_store import RunStore
from tools.store.database import Database


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


async def eventually(check: Callable[[], Awaitable[bool]]) -> None:
    """Wait (at most 10 s) for a condition of another session that no event of ours can signal."""
    for _ in range(1000):
        if await check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the condition never held")
