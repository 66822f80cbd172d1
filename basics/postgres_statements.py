"""PostgreSQL's direct path (`basics.driver_statements`): a small pool of psycopg connections in autocommit, beside
the engine's, which need no reset between uses. A statement that is atomic by itself runs alone, with no BEGIN or
COMMIT around it; a transaction is psycopg's own on one connection of the pool."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import psycopg
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool
from sqlalchemy.engine import Engine, make_url

from basics.driver_statements import Compiled, DriverStatements, DriverTransaction, Executed, Values


class PostgresStatements(DriverStatements):
    error = psycopg.Error

    def __init__(self, url: str, engine: Engine, *, size: int, timeout_s: float) -> None:
        super().__init__(engine)
        adapters = getattr(engine.dialect, "_psycopg_adapters_map", None)  # the engine's JSON and type adapters
        conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        self._pool: AsyncConnectionPool[AsyncConnection[Any]] = AsyncConnectionPool(
            conninfo,
            min_size=1,
            max_size=max(size, 1),  # beside the engine's pool: these statements are short, a few connections do
            timeout=timeout_s,
            # Prepared on first use: a turn runs a few dozen shapes of statement, again and again, so a new server
            # (or a new connection) reaches the parse-once state at once rather than after five runs of each shape on
            # each connection (psycopg's default), which kept a freshly started server slower for its first
            # thousand turns.
            kwargs={
                "autocommit": True,
                "prepare_threshold": 0,
                **({"context": adapters} if adapters is not None else {}),
            },
            open=False,
            name="support-direct",
        )
        self._opened = False
        self._opening = asyncio.Lock()

    async def _connection(self) -> AbstractAsyncContextManager[AsyncConnection[Any]]:
        if not self._opened:
            async with self._opening:
                if not self._opened:
                    await self._pool.open(wait=False)
                    self._opened = True
        return self._pool.connection()

    async def rows(self, compiled: Compiled, values: Values | None) -> list[Any]:
        """One statement in autocommit: it is its own transaction, so BEGIN and COMMIT would only add round trips."""
        async with await self._connection() as connection:
            return (await self.execute(connection, compiled, values))._rows

    async def read(self, compiled: Compiled, values: Values | None) -> list[Any]:
        return await self.rows(compiled, values)  # in autocommit: a statement reads its own snapshot

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[DriverTransaction]:
        async with await self._connection() as connection:
            try:
                async with connection.transaction():
                    self._began()
                    yield DriverTransaction(self, connection)
            except psycopg.Error as error:
                raise self._translated(error, "COMMIT", None) from error
            self._committed()

    async def execute(
        self, connection: AsyncConnection[Any], compiled: Compiled, values: Values | Sequence[Values] | None
    ) -> Executed:
        many = isinstance(values, list)
        parameters = compiled.arguments(values)
        try:
            async with connection.cursor() as cursor:
                if many:
                    await cursor.executemany(compiled.sql, parameters)
                else:
                    await cursor.execute(compiled.sql, parameters)
                description = cursor.description  # psycopg builds it anew on every read
                fetched = await cursor.fetchall() if description is not None else []
                executed = self._executed(compiled, description, cursor.rowcount, fetched)
        except psycopg.Error as error:
            raise self._translated(error, compiled.sql, parameters) from error
        self._heard(compiled.sql, parameters, executed)
        return executed

    async def close(self) -> None:
        if self._opened:
            await self._pool.close()
            self._opened = False
