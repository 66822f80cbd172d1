"""The database connection: one async engine per process, SQLite by default, PostgreSQL by URL.

SQLite gets WAL (readers never wait for the writer), statements run inline on the event loop (see
`sqlite_inline`), and every session that may write takes the process's write lock and then `BEGIN IMMEDIATE`,
so writers queue in asyncio instead of blocking the loop on SQLite's file lock. PostgreSQL runs at READ
COMMITTED; writers guard their rows with conditional updates (see `records.claim_order`).
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import InvalidatePoolError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.sql import Executable
from sqlmodel.ext.asyncio.session import AsyncSession

from basics import json_text
from basics.dialects import Dialect, dialect_of
from basics.driver_statements import DriverStatements, DriverTransaction, NotDirect
from basics.postgres_statements import PostgresStatements
from basics.sqlite_inline import inline_creator
from basics.sqlite_statements import SqliteStatements

SQLITE_BUSY_TIMEOUT_MS = 15_000
PARSED_ONCE_BYTES = 65_536
PARSED_ONCE_PARAMS = 1_000
WRITE_LOCK_TIMEOUT_S = 30.0
SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
    f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}",
)
"""Every SQLite connection's settings: the engine's and the direct path's."""

T = TypeVar("T")
Statements = AsyncSession | DriverTransaction
"""Where a writing transaction's statements go: a session, or the direct path's transaction."""


def async_url(url: str) -> str:
    """Accept the URLs operators write (`sqlite:///x.db`, `postgresql://...`) and pick the async driver."""
    parsed = make_url(url)
    if parsed.drivername in ("sqlite", "sqlite+pysqlite"):
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    elif parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg2", "postgresql+psycopg"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


@dataclass(frozen=True, slots=True)
class PoolLimits:
    """PostgreSQL connection pool bounds, per process. A turn holds a connection only for its short
    transactions, so a pool a little larger than the turns that write at once is enough; `timeout_s` is how long a
    request waits for a free connection before it fails (it should sit well above the observed tail)."""

    size: int = 10
    overflow: int = 20
    timeout_s: float = 30.0
    recycle_s: float = 1800.0
    """Connections older than this are replaced, so a server-side idle limit never hands us a dead one."""
    pre_ping: bool = True
    """Check a connection with a round trip when it is taken from the pool after lying idle `ping_after_idle_s`
    or longer. Connections die while idle (a server restart, an idle timeout in between): one taken straight back
    under load is not checked, as every check cost a round trip and about 0.2 ms of CPU, three times a turn. A
    connection that died in that last second fails the one request that meets it, and the pool then replaces every
    connection older than the failure. Off: never checked."""
    ping_after_idle_s: float = 1.0


_RETURNED_AT = "support_returned_at"
_QUERY_ONLY = "support_query_only"
"""SQLite: the connection's `PRAGMA query_only`, as last set (kept in the connection's own `info`)."""


def ping_idle_connections(engine: AsyncEngine, after_s: float) -> None:
    """Check a pooled connection with a round trip when it is taken after lying idle `after_s` or longer (see
    `PoolLimits.pre_ping`). SQLAlchemy's own `pool_pre_ping` checks on every checkout; this is the same check,
    through the same dialect calls, skipped for a connection returned a moment ago. A dead one invalidates the
    pool, as SQLAlchemy's does, and the checkout goes on with a new connection."""
    pool = engine.sync_engine.pool
    dialect = engine.sync_engine.dialect

    @event.listens_for(pool, "connect")
    def _fresh(_dbapi_connection: Any, record: Any) -> None:
        record.info.pop(_RETURNED_AT, None)  # a new connection needs no check

    @event.listens_for(pool, "checkin")
    def _returned(_dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            record.info[_RETURNED_AT] = time.monotonic()

    @event.listens_for(pool, "checkout")
    def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        returned = record.info.get(_RETURNED_AT)
        if returned is None or time.monotonic() - returned < after_s:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as error:
            if dialect.is_disconnect(error, dbapi_connection, None):
                raise InvalidatePoolError() from error
            raise


def parse_batched_statements_once() -> None:
    """Let psycopg keep the parse of a turn's batched statements.

    psycopg turns a query's placeholders into PostgreSQL's on every execution, with a Python-level scan of the
    whole text, unless the query is at most 4 KB with at most 50 parameters: then the result is kept in an LRU
    (128 entries). The limit is there for ORM inserts with a different number of rows each time; the statement that
    closes a run (`basics.batched`; about 6 KB for a turn with one tool call) comes in a few shapes, one per number
    of steps and events, so it was scanned again on every turn (a third of that statement's CPU under load). With
    the limits raised it is scanned once per shape; the LRU still bounds what is kept. The limits are module
    settings of psycopg's (`psycopg._queries`); without them this does nothing."""
    from psycopg import _queries

    if hasattr(_queries, "MAX_CACHED_STATEMENT_LENGTH") and hasattr(_queries, "MAX_CACHED_STATEMENT_PARAMS"):
        _queries.MAX_CACHED_STATEMENT_LENGTH = max(_queries.MAX_CACHED_STATEMENT_LENGTH, PARSED_ONCE_BYTES)
        _queries.MAX_CACHED_STATEMENT_PARAMS = max(_queries.MAX_CACHED_STATEMENT_PARAMS, PARSED_ONCE_PARAMS)


class Database:
    """Owns the engine and hands out sessions. Create one per process and `dispose()` it on shutdown."""

    def __init__(self, url: str, *, echo: bool = False, pool: PoolLimits | None = None) -> None:
        self.url = async_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        # Every JSON column is written and read through `basics.json_text` (orjson), the direct path's too: it uses
        # this engine's type processors and, on PostgreSQL, its psycopg adapters.
        kwargs: dict[str, Any] = {
            "echo": echo,
            "json_serializer": json_text.dumps,
            "json_deserializer": json_text.loads,
        }
        self._write_lock = asyncio.Lock()
        if self.is_sqlite:
            path = self._ensure_sqlite_dir()
            kwargs["async_creator"] = inline_creator(path, timeout_s=SQLITE_BUSY_TIMEOUT_MS / 1000)
            kwargs.update(pool_size=4, max_overflow=4, pool_timeout=WRITE_LOCK_TIMEOUT_S)
        else:
            parse_batched_statements_once()
            limits = pool or PoolLimits()
            kwargs.update(
                pool_size=limits.size,
                max_overflow=limits.overflow,
                pool_timeout=limits.timeout_s,
                pool_recycle=limits.recycle_s,
            )
        self.engine: AsyncEngine = create_async_engine(self.url, **kwargs)
        if self.is_sqlite:
            self._configure_sqlite()
            self._reader = self.engine.execution_options(sqlite_begin="READONLY")
            self._sqlite_writer = self.engine.execution_options(sqlite_begin="IMMEDIATE")
        else:
            if limits.pre_ping:
                ping_idle_connections(self.engine, limits.ping_after_idle_s)
            # At READ COMMITTED every statement reads its own snapshot, inside a transaction or not, so a session
            # that only reads gains nothing from BEGIN and ROLLBACK but their two round trips; nor does a statement
            # that writes alone (`execute_alone`) from BEGIN and COMMIT.
            self._reader = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        self._sessions = async_sessionmaker(self.engine, class_=AsyncSession, expire_on_commit=False)
        self._direct: DriverStatements
        if self.is_sqlite:
            self._direct = SqliteStatements(
                self.engine.sync_engine, connect=self._sqlite_connection, write_turn=self._write_turn
            )
        else:
            self._direct = PostgresStatements(
                self.url, self.engine.sync_engine, size=limits.size, timeout_s=limits.timeout_s
            )

    @property
    def direct(self) -> DriverStatements:
        """The direct path for a turn's hot statements (`basics.driver_statements`)."""
        return self._direct

    @property
    def dialect(self) -> str:
        """The backend's name, as health reports it."""
        return self.engine.dialect.name

    @property
    def traits(self) -> Dialect:
        """What the backend can do that changes how we write to it (`basics.dialects`)."""
        return dialect_of(self.engine)

    def _ensure_sqlite_dir(self) -> str:
        database = make_url(self.url).database
        if not database or database == ":memory:":
            raise ValueError("use a SQLite file: an in-memory database is not shared between connections")
        Path(database).parent.mkdir(parents=True, exist_ok=True)
        return database

    def _configure_sqlite(self) -> None:
        sync_engine = self.engine.sync_engine

        @event.listens_for(sync_engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            for pragma in SQLITE_PRAGMAS:
                cursor.execute(pragma)
            cursor.close()

        @event.listens_for(sync_engine, "begin")
        def _on_begin(conn: Any) -> None:
            # Only a write session (under this process's write lock) begins IMMEDIATE, taking SQLite's write lock
            # at once. Everything else (a read-only session, a health check, a migration check) begins DEFERRED
            # and so never holds the write lock while it waits on the event loop, where a writer blocked in
            # SQLite's busy wait (the driver runs inline, on the loop) would keep it from ever letting go.
            if conn is None:
                return  # the direct path announces its transactions with no connection: it begins them itself
            mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
            if mode != "AUTOCOMMIT":
                # A read-only session must not write at all (a write would take the lock outside the process's).
                # The setting stays with the connection, so it is sent only when it changes: a turn's writes run on
                # the direct path's own connection, and the engine's mostly read.
                query_only = "ON" if mode == "READONLY" else "OFF"
                if conn.info.get(_QUERY_ONLY) != query_only:
                    conn.exec_driver_sql(f"PRAGMA query_only={query_only}")
                    conn.info[_QUERY_ONLY] = query_only
                conn.exec_driver_sql(f"BEGIN {'DEFERRED' if mode == 'READONLY' else mode}")

    @asynccontextmanager
    async def session(self, *, readonly: bool = False) -> AsyncIterator[AsyncSession]:
        """A session; `readonly=True` on SQLite begins a deferred transaction that never blocks a writer, and on
        PostgreSQL runs each statement on its own, with no transaction around them."""
        if readonly:
            async with self._sessions(bind=self._reader) as session:
                yield session
            return
        if not self.is_sqlite:
            async with self._sessions() as session:
                yield session
            return
        async with self._write_turn(), self._sessions(bind=self._sqlite_writer) as session:
            yield session

    @asynccontextmanager
    async def _write_turn(self) -> AsyncIterator[None]:
        """SQLite: this process's write lock, held for one writing transaction (a session or the direct path's)."""
        try:
            # A deadline rather than `wait_for`, which runs the acquisition as a task of its own: that cost a task
            # and a turn of the event loop for every writing transaction, the lock free or not.
            async with asyncio.timeout(WRITE_LOCK_TIMEOUT_S):
                await self._write_lock.acquire()
        except TimeoutError:
            raise RuntimeError(
                "timed out waiting for the SQLite write lock (is a session nested in another?)"
            ) from None
        try:
            yield
        finally:
            self._write_lock.release()

    def _sqlite_connection(self) -> sqlite3.Connection:
        """A connection for SQLite's direct path, set up as the engine's are (autocommit: we emit BEGIN)."""
        database = make_url(self.url).database
        assert database is not None
        connection = sqlite3.connect(
            database, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
        )
        for pragma in SQLITE_PRAGMAS:
            connection.execute(pragma)
        return connection

    async def write(self, work: Callable[[Statements], Awaitable[T]], *, direct: bool = True) -> T:
        """Run `work` as one writing transaction, committed when it returns: on the direct path
        (`basics.driver_statements`), its statements given a `DriverTransaction`, which answers the calls of a
        session that the hot writes make. When one of its statements can only run through the engine (`NotDirect`,
        raised before that statement runs), or with `direct=False`, the transaction is rolled back and `work` runs
        again in a write session: it must do nothing outside the database that it cannot do twice."""
        if direct:
            try:
                async with self._direct.transaction() as transaction:
                    return await work(transaction)
            except NotDirect:
                pass
        async with self.session() as session:
            try:
                done = await work(session)
            except BaseException:
                await session.rollback()
                raise
            await session.commit()
        return done

    async def execute_alone(self, statement: Executable, params: dict[str, Any] | None = None) -> list[Any]:
        """Run one writing statement that is atomic by itself (a single insert, or a turn's batched statement
        whose parts are CTEs) and return its rows, on the direct path (`basics.driver_statements`): on PostgreSQL
        in autocommit on a connection of the direct pool, with no BEGIN or COMMIT of ours around it (a statement is
        its own transaction, so they would only add two round trips); on SQLite as a transaction of its own, in
        the process's write turn, committed before the rows are handed back. A statement the direct path cannot
        run goes through the engine in the same way."""
        if (compiled := self._direct.compiled(statement)) is not None:
            return await self._direct.rows(compiled, params)
        if self.is_sqlite:
            async with self.session() as session:
                result = await (await session.connection()).execute(statement, params)
                rows = list(result.all()) if result.returns_rows else []
                await session.commit()
            return rows
        async with self._reader.connect() as conn:
            result = await conn.execute(statement, params)
            return list(result.all()) if result.returns_rows else []

    async def read_alone(self, statement: Executable, params: dict[str, Any] | None = None) -> list[Any]:
        """Run one reading statement, outside any transaction of ours, and return its rows: on the direct path,
        or through a read-only session for a statement only the engine can run."""
        if (compiled := self._direct.compiled(statement)) is not None:
            return await self._direct.read(compiled, params)
        async with self.session(readonly=True) as session:
            return list((await (await session.connection()).execute(statement, params)).all())

    async def run_schema_change(self, change: Callable[[Connection], None]) -> None:
        """Run a schema change (the migrations) in one transaction, alone among this process's writers."""
        engine = self._sqlite_writer if self.is_sqlite else self.engine
        async with self._write_lock, engine.begin() as conn:
            await conn.run_sync(change)

    async def ping(self) -> bool:
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception:
            return False
        return True

    async def dispose(self) -> None:
        await self._direct.close()
        await self.engine.dispose()
