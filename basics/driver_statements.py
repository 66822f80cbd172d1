"""PostgreSQL: a turn's few hot statements, run on the driver directly instead of through SQLAlchemy's engine.

A turn runs four or five statements, each built once for its shape (`basics.batched`). Through the engine, each
still paid for much more than the database's own work: the pool's checkout and its reset on checkin, the AUTOCOMMIT
isolation level set on checkout and reset on checkin, the compiled-cache lookup and parameter processing, the
greenlet switches, and the result's wrapping. The same statement costs the process about a third as much CPU on a
psycopg connection of its own (`benchmarks/statement_path.py`: 0.30 against 0.88 ms on a busy machine).

So a turn's statements run here, on a pool of psycopg connections in autocommit, which need no reset between
uses: those atomic by themselves (`Database.execute_alone`: a run's close, a new conversation) alone, and the two of
a turn's start in one transaction (`RunStore.start_turn`). The SQL is
SQLAlchemy's own compilation of the same statement for the same dialect, its parameters processed by the same
bind processors and adapted by the same psycopg adapters, so the database sees exactly what the engine would have
sent. A statement whose compiled form this path cannot run as it is (one with parameters expanded at execution,
or with result types SQLAlchemy would convert) is refused here, and `Database` sends it through the engine.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import psycopg
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool
from sqlalchemy.engine import Dialect, Engine, make_url
from sqlalchemy.exc import DBAPIError, MultipleResultsFound, NoResultFound
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

    async def _connection(self) -> AbstractAsyncContextManager[AsyncConnection[Any]]:
        if not self._opened:
            async with self._opening:
                if not self._opened:
                    await self._pool.open(wait=False)
                    self._opened = True
        return self._pool.connection()

    async def rows(self, compiled: Compiled, values: dict[str, Any] | None) -> list[Any]:
        """Run one statement in autocommit and return its rows (empty for a statement that returns none)."""
        async with await self._connection() as connection:
            return await self._run(connection, compiled, values)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[DriverTransaction]:
        """A transaction on one connection of the pool: committed when the block ends, rolled back if it raises.
        The engine's `begin` and `commit` listeners hear of it as of their own."""
        async with await self._connection() as connection:
            try:
                async with connection.transaction():
                    if self.engine.dispatch.begin:
                        self.engine.dispatch.begin(None)
                    yield DriverTransaction(self, connection)
            except psycopg.Error as error:
                raise DBAPIError.instance("COMMIT", None, error, psycopg.Error) from error
            if self.engine.dispatch.commit:
                self.engine.dispatch.commit(None)

    async def _run(
        self, connection: AsyncConnection[Any], compiled: Compiled, values: dict[str, Any] | None
    ) -> list[Any]:
        parameters = compiled.parameters(values)
        try:
            async with connection.cursor(row_factory=mapped_row) as cursor:
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


class DriverTransaction:
    """The statements of one transaction on the direct path, with the few calls of a session that the turn's start
    makes (`exec` with named values, its result's `one`, `first` and `all`). A statement only the engine can run
    raises `NotDirect`: the caller lets the transaction roll back and does the work in a session instead."""

    def __init__(self, statements: DriverStatements, connection: AsyncConnection[Any]) -> None:
        self._statements = statements
        self._connection = connection
        self.bind = statements.engine
        """What `basics.dialects.dialect_of` reads, as of a session."""

    async def exec(self, statement: Executable, params: dict[str, Any] | None = None) -> Rows:
        compiled = self._statements.compiled(statement)
        if compiled is None:
            raise NotDirect(f"not on the direct path: {str(statement)[:80]}")
        return Rows(await self._statements._run(self._connection, compiled, params))


class Rows(list[Any]):
    """A statement's rows, read as a session's result is."""

    def one(self) -> Any:
        if len(self) != 1:
            raise NoResultFound("no row") if not self else MultipleResultsFound("more than one row")
        return self[0]

    def first(self) -> Any:
        return self[0] if self else None

    def all(self) -> list[Any]:
        return list(self)

    def scalar_one(self) -> Any:
        return self.one()[0]


class MappedRow(tuple[Any, ...]):
    """A row with its values by position, by attribute and by name (`row._mapping["column"]`), as SQLAlchemy's."""

    _fields: tuple[str, ...] = ()

    def __getattr__(self, name: str) -> Any:
        try:
            return self[self._fields.index(name)]
        except ValueError:
            raise AttributeError(name) from None

    @property
    def _mapping(self) -> dict[str, Any]:
        return dict(zip(self._fields, self, strict=True))


@lru_cache(maxsize=256)
def _row_class(fields: tuple[str, ...]) -> type[MappedRow]:
    return type("Row", (MappedRow,), {"__slots__": (), "_fields": fields})


def mapped_row(cursor: Any) -> Callable[[Sequence[Any]], MappedRow]:
    """psycopg's row factory for `MappedRow`s."""
    description = cursor.description
    if description is None:
        return tuple  # type: ignore[return-value]  # never called: a statement without columns has no rows
    return _row_class(tuple(column.name for column in description))
