"""SQLite's direct path (`basics.driver_statements`): a connection of its own for writing, in the process's write
turn, and one for reading.

Every writing transaction on SQLite takes the process's write lock, then `BEGIN IMMEDIATE` (`basics.database`):
writers queue in asyncio rather than in SQLite's busy wait on the event loop. This path's transactions do the same,
on a connection that does nothing else, opened with the settings the engine's connections get. A read is one
statement in autocommit on the other connection, which cannot write (`PRAGMA query_only`): in WAL mode it never
waits for the writer, and it sees what was committed when it started. Statements run inline, as the engine's do on
SQLite (`basics.sqlite_inline`): each is a function call of a few microseconds, and the connections are used by
one statement at a time, since nothing here awaits between running one and fetching its rows."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from sqlalchemy.engine import Engine

from basics.driver_statements import Compiled, DriverStatements, DriverTransaction, Executed, Values


class SqliteStatements(DriverStatements):
    error = sqlite3.Error

    def __init__(
        self,
        engine: Engine,
        *,
        connect: Callable[[], sqlite3.Connection],
        write_turn: Callable[[], AbstractAsyncContextManager[None]],
    ) -> None:
        super().__init__(engine)
        self._connect = connect
        self._write_turn = write_turn
        self._connection: sqlite3.Connection | None = None
        self._reading: sqlite3.Connection | None = None

    async def read(self, compiled: Compiled, values: Values | None) -> list[Any]:
        if self._reading is None:
            self._reading = self._connect()
            self._reading.execute("PRAGMA query_only=ON")
        return (await self.execute(self._reading, compiled, values))._rows

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[DriverTransaction]:
        async with self._write_turn():
            if self._connection is None:
                self._connection = self._connect()
            connection = self._connection
            self._run_plain(connection, "BEGIN IMMEDIATE")
            self._began()
            try:
                yield DriverTransaction(self, connection)
            except BaseException:
                connection.rollback()
                raise
            self._run_plain(connection, "COMMIT")
            self._committed()

    def _run_plain(self, connection: sqlite3.Connection, sql: str) -> None:
        try:
            connection.execute(sql)
        except sqlite3.Error as error:
            if connection.in_transaction:
                connection.rollback()
            raise self._translated(error, sql, None) from error

    async def execute(
        self, connection: sqlite3.Connection, compiled: Compiled, values: Values | Sequence[Values] | None
    ) -> Executed:
        many = isinstance(values, list)
        parameters = compiled.arguments(values)
        try:
            cursor = (
                connection.executemany(compiled.sql, parameters)
                if many
                else connection.execute(compiled.sql, parameters)
            )
            try:
                fetched = cursor.fetchall() if cursor.description is not None else []
                executed = self._executed(compiled, cursor.description, cursor.rowcount, fetched)
            finally:
                cursor.close()
        except sqlite3.Error as error:
            raise self._translated(error, compiled.sql, parameters) from error
        self._heard(compiled.sql, parameters, executed)
        return executed

    async def close(self) -> None:
        for connection in (self._connection, self._reading):
            if connection is not None:
                connection.close()
        self._connection = self._reading = None
