"""What a session costs the database: a read-only session on PostgreSQL opens no transaction (at READ COMMITTED
every statement reads its own snapshot either way, so BEGIN and ROLLBACK were two round trips for nothing), nor
does a writing statement that is atomic by itself (`execute_alone`); a writing session still does, so its
statements commit or roll back together. The pool checks a connection only when it has lain idle, where
connections die."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
import pytest
from sqlalchemy import insert, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import col, select

from agent.conversations.tables import Conversation
from basics.clock import utcnow
from basics.database import Database, PoolLimits
from testkit.statements import counting


async def transaction_status(session: object) -> psycopg.pq.TransactionStatus:
    connection = await session.connection()  # type: ignore[attr-defined]
    raw = await connection.get_raw_connection()
    return raw.driver_connection.info.transaction_status  # type: ignore[no-any-return]


async def test_a_read_only_session_on_postgresql_runs_outside_a_transaction(postgresql_url: str) -> None:
    """(SQLite's read-only sessions are deferred transactions, by design: see `Database`.)"""
    database = Database(postgresql_url)
    try:
        async with database.session(readonly=True) as session:
            assert (await session.exec(text("SELECT count(*) FROM orders"))).scalar_one() > 0  # type: ignore[call-overload]
            assert await transaction_status(session) == psycopg.pq.TransactionStatus.IDLE
        async with database.session() as session:
            await session.exec(text("SELECT 1"))  # type: ignore[call-overload]
            assert await transaction_status(session) == psycopg.pq.TransactionStatus.INTRANS
            session.add(Conversation(id="conv_rolled_back", customer_id="james_li_5688", created_at=utcnow()))
            await session.rollback()
        # The same pooled connection, back from a read-only session, still writes inside a transaction.
        async with database.session(readonly=True) as session:
            await session.exec(text("SELECT 1"))  # type: ignore[call-overload]
        async with database.session() as session:
            assert await session.get(Conversation, "conv_rolled_back") is None
    finally:
        await database.dispose()


async def backend_pid(database: Database) -> int:
    async with database.session(readonly=True) as session:
        return int((await session.exec(text("SELECT pg_backend_pid()"))).scalar_one())  # type: ignore[call-overload]


def terminate(database_url: str, pid: int) -> None:
    """The server drops one connection, as a restart or an idle timeout in between would."""
    with psycopg.connect(database_url.replace("+psycopg", ""), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))


def one_connection(**limits: Any) -> PoolLimits:
    return PoolLimits(size=1, overflow=0, **limits)


async def test_a_connection_that_died_while_idle_is_replaced_before_use(postgresql_url: str) -> None:
    database = Database(postgresql_url, pool=one_connection(ping_after_idle_s=0.2))
    try:
        first = await backend_pid(database)
        terminate(postgresql_url, first)
        await asyncio.sleep(0.3)  # idle past the limit: checked when taken, found dead, replaced
        assert await backend_pid(database) != first
    finally:
        await database.dispose()


async def test_a_connection_taken_straight_back_is_not_checked(postgresql_url: str) -> None:
    """Under load a connection comes back within milliseconds: no round trip to check it. The price: one that
    died in that moment fails the one request that meets it, and the pool replaces it (and every older one)."""
    database = Database(postgresql_url, pool=one_connection(ping_after_idle_s=60))
    try:
        first = await backend_pid(database)
        terminate(postgresql_url, first)
        with pytest.raises(OperationalError):
            await backend_pid(database)
        assert await backend_pid(database) != first
    finally:
        await database.dispose()


async def test_with_checks_off_an_idle_connection_is_not_checked(postgresql_url: str) -> None:
    database = Database(postgresql_url, pool=one_connection(pre_ping=False, ping_after_idle_s=0.2))
    try:
        first = await backend_pid(database)
        terminate(postgresql_url, first)
        await asyncio.sleep(0.3)
        with pytest.raises(OperationalError):
            await backend_pid(database)
        assert await backend_pid(database) != first
    finally:
        await database.dispose()


async def test_a_statement_run_alone_is_its_own_transaction(database_url: str) -> None:
    """`execute_alone` commits a statement by itself (on PostgreSQL with no BEGIN or COMMIT of ours), hands back
    its rows, and a statement that fails part-way leaves nothing of any of its parts."""
    database = Database(database_url)
    conversations = Conversation.__table__  # type: ignore[attr-defined]
    row = {"customer_id": "james_li_5688", "created_at": utcnow()}
    try:
        with counting(database.engine.sync_engine) as count:
            stored = await database.execute_alone(
                insert(conversations).values(id="conv_alone", **row).returning(conversations.c.id)
            )
            nothing = await database.execute_alone(insert(conversations).values(id="conv_alone_2", **row))
        assert [tuple(r) for r in stored] == [("conv_alone",)] and nothing == []
        assert count.commits == (2 if database.is_sqlite else 0)
        with pytest.raises(IntegrityError):  # the second row is there already: the first is not stored either
            await database.execute_alone(
                insert(conversations).values([{"id": "conv_first_part", **row}, {"id": "conv_alone", **row}])
            )
        async with database.session(readonly=True) as session:
            found = (await session.exec(select(Conversation.id).where(col(Conversation.id).like("conv_%")))).all()
        assert sorted(found) == ["conv_alone", "conv_alone_2"]
    finally:
        await database.dispose()
