"""PostgreSQL's direct path for a turn's hot statements (`basics.driver_statements`): the database sees what the
engine would have sent, and the service sees what the engine would have handed back, errors included."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import bindparam, insert, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from agent.conversations.tables import Conversation
from basics.database import Database
from testkit.statements import counting

CONVERSATIONS = Conversation.__table__  # type: ignore[attr-defined]


async def test_a_statement_gives_the_rows_and_types_the_engine_gives(postgresql_url: str) -> None:
    database = Database(postgresql_url)
    statement = text(
        "SELECT CAST(:name AS varchar) AS name, CAST(:at AS timestamptz) AS at, CAST(:data AS jsonb) AS data"
    ).bindparams(bindparam("data", type_=Conversation.__table__.c.id.type))  # type: ignore[attr-defined]
    values = {"name": "Ünïcode ✓", "at": datetime(2026, 12, 6, 12, 0, tzinfo=UTC), "data": '{"a": [1, 2]}'}
    try:
        assert database.direct is not None
        compiled = database.direct.compiled(statement)
        assert compiled is not None
        [direct] = await database.direct.rows(compiled, values)
        async with database.session(readonly=True) as session:
            [engine] = (await session.exec(statement, params=values)).all()  # type: ignore[call-overload]
        assert tuple(direct) == tuple(engine) == ("Ünïcode ✓", values["at"], {"a": [1, 2]})
        assert direct.name == "Ünïcode ✓" and direct._mapping["data"] == {"a": [1, 2]}
    finally:
        await database.dispose()


async def test_a_statement_the_direct_path_cannot_run_goes_through_the_engine(postgresql_url: str) -> None:
    """Parameters expanded at execution (an IN list) exist only in the engine's compilation."""
    database = Database(postgresql_url)
    listed = select(CONVERSATIONS.c.id).where(col(CONVERSATIONS.c.id).in_(bindparam("ids", expanding=True)))
    try:
        assert database.direct is not None and database.direct.compiled(listed) is None
        assert await database.execute_alone(listed, {"ids": ["no_such_conversation"]}) == []
    finally:
        await database.dispose()


async def test_a_transaction_is_all_or_nothing_and_counted_as_the_engines(postgresql_url: str) -> None:
    database = Database(postgresql_url)
    row = {"customer_id": "james_li_5688", "created_at": datetime.now(UTC)}
    store = insert(CONVERSATIONS).values(id=bindparam("id"), **row)
    try:
        assert database.direct is not None
        with counting(database.engine.sync_engine) as count:
            async with database.direct.transaction() as transaction:
                await transaction.exec(store, {"id": "conv_direct_1"})
                await transaction.exec(store, {"id": "conv_direct_2"})
        assert (count.statements, count.transactions, count.commits) == (2, 1, 1)
        with pytest.raises(IntegrityError):  # the second is stored already: the first of this one is not kept
            await store_both(database, store, "conv_direct_3", "conv_direct_2")
        with pytest.raises(RuntimeError):  # the caller's own failure rolls back too
            await store_both(database, store, "conv_direct_4", None)
        async with database.session(readonly=True) as session:
            stored = (
                await session.exec(select(Conversation.id).where(col(Conversation.id).like("conv_direct_%")))
            ).all()
        assert sorted(stored) == ["conv_direct_1", "conv_direct_2"]
    finally:
        await database.dispose()


async def store_both(database: Database, store: Any, first: str, second: str | None) -> None:
    """Both in one direct transaction; without a second, the caller fails after the first."""
    assert database.direct is not None
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
        assert database.direct is not None
        async with database.direct.transaction() as transaction:  # one connection for both
            await transaction.exec(statement, {"marker": "first run"})
            [row] = await transaction.exec(prepared)
        assert row.n == 1
    finally:
        await database.dispose()
