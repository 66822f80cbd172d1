"""A turn's few hot statements, run on the database driver directly instead of through SQLAlchemy's engine.

A turn runs a handful of writes, each built once for its shape (`basics.batched`). Through the engine and an ORM
session, each still paid for much more than the database's own work: the pool's checkout and reset, the
compiled-cache lookup and its cache key, parameter processing, the ORM's execution plumbing (an ORM update even
looks for the rows it changed among the session's objects), the greenlet switches and the result's wrapping. On
PostgreSQL a statement through the engine cost about three times the client CPU it costs on a psycopg connection of
its own (`benchmarks/statement_path.py`); on SQLite, whose own work for a turn's write is a few microseconds, the
engine's share was nearly all of it: a third of the single process's CPU under load went to the seventeen
statements of a turn.

So a turn's start (`RunStore.start_turn`), its close and a new conversation (`Database.execute_alone`) run here, on
a connection of the backend's own (`basics.postgres_statements`, `basics.sqlite_statements`). The SQL is
SQLAlchemy's own compilation of the same statement for the same dialect, its parameters processed by the same bind
processors and its result columns by the same result processors, so the database sees exactly what the engine
would have sent, and the caller gets the values the engine would have handed back. The engine's listeners hear of
every statement, `begin` and `commit` as of their own, so counting a turn's work is the same on both paths.

A statement whose compiled form this path cannot run as it is (parameters expanded at execution) is refused when it
is compiled, and one whose rows a session would turn into objects is refused where a session's calls are stood in
for (`DriverTransaction.exec`), in both cases before anything runs (`NotDirect`): the caller sends it through the
engine or a session instead.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, cast

from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.exc import DBAPIError, MultipleResultsFound, NoResultFound, StatementError
from sqlalchemy.sql import Executable, Insert
from sqlmodel.sql.expression import SelectOfScalar

log = logging.getLogger(__name__)

MOST_COMPILED = 2_000
"""Compiled statements kept (one per statement object; `basics.batched.MOST_SHAPES` of each kind at most)."""

Values = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Compiled:
    """A statement as SQL for the driver, how to turn its named values into the driver's parameters, and how to
    turn the driver's result values into SQLAlchemy's."""

    sql: str
    construct: Callable[[Values], Values]
    processors: dict[str, Callable[[Any], Any]]
    positions: tuple[str, ...] | None
    """The parameters' names in order, for a driver that takes them by position (SQLite's `?`); None: by name."""
    results: tuple[Callable[[Any], Any] | None, ...]
    """Each result column's processor, by position (empty when none has one)."""
    session_converts: bool
    """A session hands back something else than its rows (mapped objects, or bare values for sqlmodel's one-column
    select): `DriverTransaction.exec`, which stands in for a session, refuses it. As rows (`Database.execute_alone`,
    `read_alone`, as a connection hands them back) it runs here."""

    def parameters(self, values: Values | None) -> Values | tuple[Any, ...]:
        parameters = self.construct(values or {})
        for name, process in self.processors.items():
            if name in parameters:
                parameters[name] = process(parameters[name])
        if self.positions is None:
            return parameters
        return tuple(parameters[name] for name in self.positions)

    def arguments(self, values: Values | Sequence[Values] | None) -> Any:
        """The driver's parameters: one set, or a list of them for a statement run once per values."""
        if isinstance(values, list):
            return [self.parameters(one) for one in values]
        return self.parameters(cast(Values | None, values))

    def row(self, names: tuple[str, ...], values: Sequence[Any]) -> MappedRow:
        if self.results:
            pairs = zip(self.results, values, strict=True)
            values = [value if process is None else process(value) for process, value in pairs]
        return _row_class(names)(values)


class NotDirect(Exception):
    """This work cannot be done on the direct path (a statement the driver cannot run as compiled, or one whose rows
    a session would turn into objects): raised before that statement runs, so the caller can do the work through
    the engine or a session instead (`basics.database.Database.write`)."""


def compile_for_driver(statement: Executable, dialect: Dialect) -> Compiled:
    if isinstance(statement, Insert) and not statement._values and statement.select is None:
        raise NotDirect("an insert whose columns the engine picks from the values given")
    compiled = statement.compile(dialect=dialect)  # type: ignore[attr-defined]
    if "POSTCOMPILE" in compiled.string or compiled.literal_execute_params:
        raise NotDirect("parameters expanded at execution")
    columns = compiled._result_columns
    if columns and not compiled._ordered_columns:
        raise NotDirect("result columns the engine would match by name")
    processors = {
        name: process
        for name, bind in compiled.binds.items()
        if (process := bind.type._cached_bind_processor(dialect)) is not None
    }
    results = tuple(column.type._cached_result_processor(dialect, None) for column in columns)
    return Compiled(
        compiled.string,
        compiled.construct_params,
        processors,
        tuple(compiled.positiontup) if compiled.positional else None,
        results if any(results) else (),
        _session_converts(statement),
    )


def _session_converts(statement: Executable) -> bool:
    if isinstance(statement, SelectOfScalar):
        return True
    descriptions = getattr(statement, "column_descriptions", ()) if getattr(statement, "is_select", False) else ()
    return any(isinstance(description.get("expr"), type) for description in descriptions)


@dataclass(slots=True)
class Executed:
    """What the engine's `after_cursor_execute` listeners are shown of a statement run here: as a cursor after
    the statement, with its rows fetched (`_rows`, as SQLAlchemy's async adapters keep them)."""

    description: Any
    rowcount: int
    _rows: list[Any]


class DriverStatements(ABC):
    """The direct path of one backend: statements compiled once per statement object, run on the backend's own
    connections, one at a time (`rows`) or several in a transaction (`transaction`)."""

    error: type[Exception]
    """The driver's base error class, which SQLAlchemy's `DBAPIError.instance` translates."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect
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
        except NotDirect as refused:
            # Once per statement object: a turn's statements are meant to run here, so one that cannot is worth
            # seeing (each such statement pays the engine's costs on every run).
            log.warning("statement runs through the engine, not the direct path (%s): %.120s", refused, statement)
            compiled = None
        self._compiled[key] = (statement, compiled)  # holding the statement keeps its id from being reused
        if len(self._compiled) > MOST_COMPILED:
            self._compiled.popitem(last=False)
        return compiled

    @abstractmethod
    def transaction(self) -> AbstractAsyncContextManager[DriverTransaction]:
        """A transaction on one connection: committed when the block ends, rolled back if it raises."""

    async def rows(self, compiled: Compiled, values: Values | None) -> list[Any]:
        """Run one statement as a transaction of its own and return its rows (empty for one that returns none)."""
        async with self.transaction() as transaction:
            return await transaction.run(compiled, values)

    @abstractmethod
    async def read(self, compiled: Compiled, values: Values | None) -> list[Any]:
        """Run one reading statement outside any writing transaction (it sees what is committed as it starts) and
        return its rows."""

    @abstractmethod
    async def execute(self, connection: Any, compiled: Compiled, values: Values | Sequence[Values] | None) -> Executed:
        """Run the statement on `connection` (once per values for a sequence of them) and fetch its rows."""

    @abstractmethod
    async def close(self) -> None:
        """Close the path's connections."""

    def _began(self) -> None:
        if self.engine.dispatch.begin:
            self.engine.dispatch.begin(None)

    def _committed(self) -> None:
        if self.engine.dispatch.commit:
            self.engine.dispatch.commit(None)

    def _executed(self, compiled: Compiled, description: Any, rowcount: int, fetched: Sequence[Any]) -> Executed:
        """A statement's outcome from its cursor's description, row count and fetched rows (none without columns)."""
        if description is None:
            return Executed(None, rowcount, [])
        names = _column_names(description)
        rows = [compiled.row(names, row) for row in fetched]
        return Executed(description, len(rows), rows)

    def _heard(self, sql: str, parameters: Any, executed: Executed) -> None:
        if self.engine.dispatch.after_cursor_execute:  # the engine's listeners see it as theirs
            many = isinstance(parameters, list)
            self.engine.dispatch.after_cursor_execute(None, executed, sql, parameters, None, many)

    def _translated(self, error: Exception, sql: str, parameters: Any) -> StatementError:
        """The driver's error as the engine raises it: `IntegrityError` for a conflict, and so on."""
        return DBAPIError.instance(sql, parameters, error, self.error)


class DriverTransaction:
    """The statements of one transaction on the direct path, with the few calls of a session that a turn's start
    and close make (`exec` with named values, its result's `one`, `first`, `all` and `scalar_one`). A statement
    only the engine can run raises `NotDirect` before anything of it runs: the caller lets the transaction roll
    back and does the work in a session instead."""

    def __init__(self, statements: DriverStatements, connection: Any) -> None:
        self._statements = statements
        self._connection = connection
        self.bind = statements.engine
        """What `basics.dialects.dialect_of` reads, as of a session."""

    async def exec(self, statement: Executable, params: Values | Sequence[Values] | None = None) -> Rows:
        compiled = self._statements.compiled(statement)
        if compiled is None or compiled.session_converts:
            raise NotDirect(f"not on the direct path: {str(statement)[:80]}")
        return await self.run(compiled, params)

    async def run(self, compiled: Compiled, values: Values | Sequence[Values] | None) -> Rows:
        executed = await self._statements.execute(self._connection, compiled, values)
        return Rows(executed._rows)


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


def _column_names(description: Any) -> tuple[str, ...]:
    """The result's column names from a DB-API cursor description."""
    return tuple(column[0] for column in description)
