"""SQLite for the async engine without a thread hop per statement.

SQLAlchemy's async SQLite dialect expects an `aiosqlite`-style connection, which runs every call on a worker
thread. SQLite is an in-process library: a query on the store takes ~15 µs, the hop to the thread and back ten
times that. This adapter offers the same awaitable interface but runs each call inline on the event loop.

That is only safe if no statement ever waits on a lock held by a coroutine of this same process, because a
blocked call here blocks the loop. `Database` guarantees that: writers take an asyncio lock before `BEGIN
IMMEDIATE`, and readers never wait in WAL mode. A writer in another process (the CLI seeding, say) can still
make us wait up to the busy timeout, which is acceptable for the embedded default; production runs PostgreSQL.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any


class InlineCursor:
    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    async def __aenter__(self) -> InlineCursor:
        return self

    async def __aexit__(self, *_: object) -> None:
        self._cursor.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value

    async def execute(self, sql: str, parameters: Sequence[Any] | dict[str, Any] = ()) -> InlineCursor:
        self._cursor.execute(sql, parameters)
        return self

    async def executemany(self, sql: str, seq_of_parameters: Iterable[Sequence[Any]]) -> InlineCursor:
        self._cursor.executemany(sql, seq_of_parameters)
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(size if size is not None else self._cursor.arraysize)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()


class _CursorOpener:
    """What `connection.cursor()` returns: awaitable-context style, like aiosqlite's."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    async def __aenter__(self) -> InlineCursor:
        return InlineCursor(self._connection.cursor())

    async def __aexit__(self, *_: object) -> None:
        return None


class InlineConnection:
    def __init__(self, connection: sqlite3.Connection) -> None:
        self._conn = connection
        self._connection = connection  # SQLAlchemy checks this attribute to know the connection is open

    def cursor(self) -> _CursorOpener:
        return _CursorOpener(self._conn)

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    async def commit(self) -> None:
        self._conn.commit()

    async def rollback(self) -> None:
        self._conn.rollback()

    async def close(self) -> None:
        self._conn.close()

    def stop(self) -> None:
        self._conn.close()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._conn.create_function(*args, **kwargs)


def inline_creator(path: str, *, timeout_s: float) -> Any:
    """An `async_creator` for `create_async_engine`: opens the file in autocommit mode (we emit BEGIN)."""

    async def create() -> InlineConnection:
        connection = sqlite3.connect(path, timeout=timeout_s, isolation_level=None, check_same_thread=False)
        return InlineConnection(connection)

    return create
