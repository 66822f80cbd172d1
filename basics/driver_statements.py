"""PostgreSQL: a turn's few hot statements, run on the driver directly instead of through SQLAlchemy's engine.

A turn runs four or five statements, each built once for its shape (`basics.batched`). Through the engine, each
still paid about 0.4 ms of CPU before and after the database's own work: the pool's checkout and the ROLLBACK it
sends on every checkin, the AUTOCOMMIT isolation level set on checkout and reset on checkin, the compiled-cache
lookup and parameter processing, the greenlet switch, and the result's wrapping. A plain statement costs 0.56 ms
of client CPU that way and 0.15 ms on a psycopg connection of its own (`benchmarks/turn_overhead.py` counts the
statements; `benchmarks/throughput.py` shows the CPU per turn).

So the statements that are atomic by themselves (`Database.execute_alone`: a run's close, a new conversation)
run here, on a pool of psycopg connections in autocommit, which need no reset between uses. The SQL is
SQLAlchemy's own compilation of the same statement for the same dialect, its parameters processed by the same
bind processors and adapted by the same psycopg adapters, so the database sees exactly what the engine would have
sent. A statement whose compiled form this path cannot run as it is (one with parameters expanded at execution,
or with result types SQLAlchemy would convert) is refused here, and `Database` sends it through the engine.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import psycopg
from psycopg import AsyncConnection
from psycopg.rows import namedtuple_row
from psycopg_pool import AsyncConnectionPool
from sqlalchemy.engine import Dialect, Engine, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import Executable

MOST_COMPILED = 2_000
"""Compiled statements kept (one per statement object; `basics.batched.MOST_SHAPES` of each kind at most)."""


@dataclass(frozen=True, slots=True)
class Compiled:
    """A statement as SQL for psycopg, and how to turn its named values into the driver's parameters."""

    sql: str
    construct: Callable[[dict[str, Any]], dict[str, Any]]
    processors: dict[str, Callable[[Any], Any]]

    def parameters(self, values: dict[str, Any] | None) -> dict[str, Any]:
        parameters = self.construct(values or {})
        for name, process in self.processors.items():
            if name in parameters:
                parameters[name] = process(parameters[name])
        return parameters


class NotDirect(Exception):
    """The statement cannot run on this path as it is compiled; the engine runs it."""


def compile_for_driver(statement: Executable, dialect: Dialect) -> Compiled:
    compiled = statement.compile(dialect=dialect)  # type: ignore[attr-defined]
    if compiled.positional or "POSTCOMPILE" in compiled.string:
        raise NotDirect("parameters expanded at execution")
    for column in getattr(statement, "exported_columns", ()):
        if column.type.result_processor(dialect, None) is not None:
            raise NotDirect(f"result column {column.key!r} is converted by SQLAlchemy")
    processors = {
        name: process
        for name, bind in compiled.binds.items()
        if (process := bind.type._cached_bind_processor(dialect)) is not None
    }
    return Compiled(compiled.string, compiled.construct_params, processors)


class DriverStatements:
    """A pool of autocommit psycopg connections for statements that are their own transaction."""

    def __init__(self, url: str, engine: Engine, *, size: int, timeout_s: float) -> None:
        self.engine = engine
        self.dialect = dialect = engine.dialect
        adapters = getattr(dialect, "_psycopg_adapters_map", None)  # the engine's JSON and type adapters
        conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        self._pool: AsyncConnectionPool[AsyncConnection[Any]] = AsyncConnectionPool(
            conninfo,
            min_size=1,
            max_size=max(size, 1),  # beside the engine's pool: these statements are short, a few connections do
            timeout=timeout_s,
            kwargs={"autocommit": True, **({"context": adapters} if adapters is not None else {})},
            open=False,
            name="support-direct",
        )
        self._opened = False
        self._opening = asyncio.Lock()
        self._compiled: OrderedDict[int, tuple[Executable, Compiled | None]] = OrderedDict()

    def compiled(self, statement: Executable) -> Compiled | None:
        """The statement compiled for the driver, once per statement object; None if only the engine can run it."""
        key = id(statement)
        kept = self._compiled.get(key)
        if kept is not None and kept[0] is statement:
            self._compiled.move_to_end(key)
            return kept[1]
        try:
            compiled: Compiled | None = compile_for_driver(statement, self.dialect)
        except NotDirect:
            compiled = None
        self._compiled[key] = (statement, compiled)  # holding the statement keeps its id from being reused
        if len(self._compiled) > MOST_COMPILED:
            self._compiled.popitem(last=False)
        return compiled

    async def rows(self, compiled: Compiled, values: dict[str, Any] | None) -> list[NamedTuple]:
        """Run one statement in autocommit and return its rows (empty for a statement that returns none)."""
        if not self._opened:
            async with self._opening:
                if not self._opened:
                    await self._pool.open(wait=False)
                    self._opened = True
        parameters = compiled.parameters(values)
        try:
            async with self._pool.connection() as connection:
                cursor = connection.cursor(row_factory=namedtuple_row)
                async with cursor:
                    await cursor.execute(compiled.sql, parameters)
                    if self.engine.dispatch.after_cursor_execute:  # the engine's listeners see it as theirs
                        self.engine.dispatch.after_cursor_execute(None, cursor, compiled.sql, parameters, None, False)
                    return await cursor.fetchall() if cursor.description is not None else []
        except psycopg.Error as error:  # as the engine raises it: IntegrityError for a conflict, and so on
            raise DBAPIError.instance(compiled.sql, parameters, error, psycopg.Error) from error

    async def close(self) -> None:
        if self._opened:
            await self._pool.close()
            self._opened = False
