"""The direct path for a turn's hot statements (`basics.driver_statements`), on both backends: the database sees what
the engine would have sent, and the service sees what the engine would have handed back, errors included."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import bindparam, exists, insert, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import col, select

from agent.conversations.tables import Conversation, ConversationEvent
from basics.database import Database
from basics.driver_statements import DriverTransaction, NotDirect
from testkit.statements import counting

CONVERSATIONS = Conversation.__table__  # type: ignore[attr-defined]
EVENTS = ConversationEvent.__table__  # type: ignore[attr-defined]
AT = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


async def store_conversation(database: Database, conversation_id: str) -> None:
    async with database.session() as session:
        await session.exec(  # type: ignore[call-overload]
            insert(CONVERSATIONS).values(id=conversation_id, customer_id="james_li_5688", created_at=AT)
        )
        await session.commit()


async def test_a_statement_gives_the_rows_and_types_the_engine_gives(db: Database) -> None:
    """Typed parameters in (a datetime, JSON, text), typed values out, as the engine converts them on each backend
    (on SQLite a datetime is stored as text and a truth value as an integer)."""
    await store_conversation(db, "conv_direct_types")
    store = insert(EVENTS).values(
        {name: bindparam(name, type_=EVENTS.c[name].type) for name in ("conversation_id", "kind", "data", "created_at")}
    )
    event = {
        "conversation_id": "conv_direct_types",
        "kind": "run.started",
        "data": {"a": [1, "Ünïcode ✓"]},
        "created_at": AT,
    }
    read = select(
        EVENTS.c.kind,
        EVENTS.c.data,
        EVENTS.c.created_at,
        exists().where(CONVERSATIONS.c.id == EVENTS.c.conversation_id).label("known"),
    ).where(EVENTS.c.conversation_id == bindparam("conversation"))
    async with db.direct.transaction() as transaction:
        await transaction.exec(store, event)
    compiled = db.direct.compiled(read)
    assert compiled is not None
    [direct] = await db.direct.rows(compiled, {"conversation": "conv_direct_types"})
    async with db.session(readonly=True) as session:
        [engine] = (await session.exec(read, params={"conversation": "conv_direct_types"})).all()  # type: ignore[call-overload]
    assert tuple(direct) == tuple(engine) == ("run.started", {"a": [1, "Ünïcode ✓"]}, AT, True)
    assert direct.data == {"a": [1, "Ünïcode ✓"]} and direct._mapping["known"] is True


async def test_what_the_direct_path_cannot_run_is_refused_before_it_runs(db: Database) -> None:
    """Parameters expanded at execution (an IN list), an ORM query (the session makes objects of its rows) and an
    insert whose columns the engine picks from the values given exist only on the engine's path; `execute_alone`
    sends such a statement there."""
    listed = select(CONVERSATIONS.c.id).where(col(CONVERSATIONS.c.id).in_(bindparam("ids", expanding=True)))
    assert db.direct.compiled(listed) is None
    objects = db.direct.compiled(select(Conversation))  # as rows, it runs here; as a session's objects, not
    assert objects is not None and objects.session_converts
    assert db.direct.compiled(insert(CONVERSATIONS)) is None
    assert await db.execute_alone(listed, {"ids": ["no_such_conversation"]}) == []
    with pytest.raises(NotDirect):
        async with db.direct.transaction() as transaction:
            await transaction.exec(select(Conversation))


async def test_a_transaction_is_all_or_nothing_and_counted_as_the_engines(db: Database) -> None:
    row = {"customer_id": "james_li_5688", "created_at": datetime.now(UTC)}
    store = insert(CONVERSATIONS).values(id=bindparam("id"), **row)
    with counting(db.engine.sync_engine) as count:
        async with db.direct.transaction() as transaction:
            await transaction.exec(store, {"id": "conv_direct_1"})
            await transaction.exec(store, {"id": "conv_direct_2"})
    assert (count.statements, count.transactions, count.commits) == (2, 1, 1)
    with pytest.raises(IntegrityError):  # the second is stored already: the first of this one is not kept
        await store_both(db, store, "conv_direct_3", "conv_direct_2")
    with pytest.raises(RuntimeError):  # the caller's own failure rolls back too
        await store_both(db, store, "conv_direct_4", None)
    async with db.session(readonly=True) as session:
        stored = (await session.exec(select(Conversation.id).where(col(Conversation.id).like("conv_direct_%")))).all()
    assert sorted(stored) == ["conv_direct_1", "conv_direct_2"]


async def test_work_that_needs_a_session_is_done_again_in_one(db: Database) -> None:
    """`Database.write`: the direct attempt's statements are rolled back, and the work runs again in a session."""
    store = insert(CONVERSATIONS).values(id=bindparam("id"), customer_id="james_li_5688", created_at=AT)
    ran_on: list[str] = []

    async def work(statements: Any) -> str:
        ran_on.append(type(statements).__name__)
        await statements.exec(store, params={"id": "conv_direct_again"})
        found = await statements.exec(select(Conversation).where(col(Conversation.id) == "conv_direct_again"))
        return str(found.one().customer_id)

    assert await db.write(work) == "james_li_5688"
    assert ran_on == ["DriverTransaction", "AsyncSession"]  # stored once: the first attempt left nothing behind


async def test_a_read_alone_sees_what_is_committed_and_on_sqlite_cannot_write(db: Database) -> None:
    """`Database.read_alone`: one statement outside any writing transaction, rows converted as the engine's are.
    SQLite's reading connection refuses a write, which would otherwise take the write lock outside the process's."""
    await store_conversation(db, "conv_direct_read")
    read = select(CONVERSATIONS.c.id, CONVERSATIONS.c.created_at).where(CONVERSATIONS.c.id == bindparam("id"))
    [row] = await db.read_alone(read, {"id": "conv_direct_read"})
    assert (row.id, row.created_at) == ("conv_direct_read", AT)
    if db.is_sqlite:
        sneaked = insert(CONVERSATIONS).values(id="conv_sneaked", customer_id="james_li_5688", created_at=AT)
        with pytest.raises(OperationalError, match="readonly"):
            await db.read_alone(sneaked)


async def test_sqlite_direct_transactions_take_the_process_write_turn(sqlite_url: str) -> None:
    """On SQLite a direct transaction waits while a session of this process writes, rather than meeting SQLite's
    busy wait on the event loop, and its writes are there for the session that comes after it."""
    database = Database(sqlite_url)
    store = insert(CONVERSATIONS).values(id=bindparam("id"), customer_id="james_li_5688", created_at=AT)
    order: list[str] = []

    async def direct() -> None:
        async with database.direct.transaction() as transaction:
            order.append("direct")
            await transaction.exec(store, params={"id": "conv_direct_after"})

    try:
        async with database.session() as session:
            waiting = asyncio.create_task(direct())
            await asyncio.sleep(0.05)
            order.append("session")
            await session.exec(
                insert(CONVERSATIONS).values(
                    id="conv_session_first",
                    customer_id="james_li_5688",  # type: ignore[call-overload]
                    created_at=AT,
                )
            )
            await session.commit()
        await waiting
        assert order == ["session", "direct"]
        both = col(Conversation.id).in_(["conv_session_first", "conv_direct_after"])
        async with database.session(readonly=True) as session:
            stored = (await session.exec(select(Conversation.id).where(both))).all()
        assert sorted(stored) == ["conv_direct_after", "conv_session_first"]
    finally:
        await database.dispose()


async def store_both(database: Database, store: Any, first: str, second: str | None) -> None:
    """Both in one direct transaction; without a second, the caller fails after the first."""
    async with database.direct.transaction() as transaction:
        await transaction.exec(store, {"id": first})
        if second is None:
            raise RuntimeError("the caller gave up")
        await transaction.exec(store, {"id": second})


async def test_a_statement_is_prepared_the_first_time_it_runs(postgresql_url: str) -> None:
    """A new server's connections parse each of a turn's statements once, not five times each (psycopg's default
    threshold), which kept a freshly started service slower for its first thousand turns."""
    database = Database(postgresql_url)
    statement = text("SELECT CAST(:marker AS varchar) AS marker")
    # the pattern is spelt in pieces, so this query (prepared too) does not match itself
    prepared = text("SELECT count(*) AS n FROM pg_prepared_statements WHERE statement LIKE '%AS mark' || 'er%'")
    try:
        async with database.direct.transaction() as transaction:  # one connection for both
            assert isinstance(transaction, DriverTransaction)
            await transaction.exec(statement, {"marker": "first run"})
            [row] = await transaction.exec(prepared)
        assert row.n == 1
    finally:
        await database.dispose()


async def test_a_sqlite_writer_that_waits_too_long_for_the_write_turn_is_told_so(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer nested in another of the same process would wait forever; it fails after the deadline instead,
    saying why, and the turn is free again for the next writer."""
    monkeypatch.setattr("basics.database.WRITE_LOCK_TIMEOUT_S", 0.05)
    database = Database(sqlite_url)
    try:
        async with database.session():
            with pytest.raises(RuntimeError, match="timed out waiting for the SQLite write lock"):
                async with database.direct.transaction():
                    pass
            with pytest.raises(RuntimeError, match="timed out waiting for the SQLite write lock"):
                async with database.session():
                    pass
        async with database.direct.transaction() as transaction:
            await transaction.exec(text("SELECT 1"))
    finally:
        await database.dispose()
