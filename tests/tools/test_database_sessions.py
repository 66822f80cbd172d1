"""What a session costs the database: a read-only session on PostgreSQL opens no transaction (at READ COMMITTED
every statement reads its own snapshot either way, so BEGIN and ROLLBACK were two round trips for nothing), and
a writing session still does, so its statements commit or roll back together."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import text

from agent.tables import Conversation
from tools.context import utcnow
from tools.store.database import Database, PoolLimits


async def transaction_status(session: object) -> psycopg.pq.TransactionStatus:
    connection = await session.connection()  # type: ignore[attr-defined]
    raw = await connection.get_raw_connection()
    return raw.driver_connection.info.transaction_status  # type: ignore[no-any-return]


async def test_a_read_only_session_on_postgresql_runs_outside_a_transaction(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite's read-only sessions are deferred transactions, by design (see `Database`)")
    database = Database(database_url)
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


async def test_the_pool_checks_connections_unless_told_not_to(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite has no connection pool to check")
    checked, unchecked = Database(database_url), Database(database_url, pool=PoolLimits(pre_ping=False))
    try:
        assert checked.engine.pool._pre_ping is True
        assert unchecked.engine.pool._pre_ping is False
    finally:
        await checked.dispose()
        await unchecked.dispose()
