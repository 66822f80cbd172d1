"""Several writes of one transaction in one round trip, each statement built once for its shape.

A turn's closing transaction updates the run, adds its steps, its reads' audit rows and its reply, releases the
conversation and settles the day's spend: six statements, each a round trip to the database and a wait on the
event loop while the connection sits idle in its transaction. PostgreSQL runs data-modifying statements given as
common table expressions of one statement, all on the same snapshot and all or nothing; so there the writes go
as one statement. SQLite has no such form, but it is in-process (a round trip is a function call), so there they
run one after the other.

Building a statement costs about as much CPU as running it: SQLAlchemy constructs every clause,
derives a cache key from the whole tree and adapts each value's type, for every turn. So a write is a `Bound`: a
statement built once for its shape (which table, which columns, how many rows), whose values are named
parameters, and the values of this one use. The same statement object comes back for the same shape, so
SQLAlchemy's compiled form is found without walking it again.

The writes must not depend on each other's effects (PostgreSQL does not let one CTE see another's changes, and
forbids changing one row twice in one statement): callers batch writes to different rows, and give each write a
prefix of its own so that their parameters' names do not meet.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, TypeVar

from sqlalchemy import (
    BindParameter,
    CursorResult,
    Delete,
    Insert,
    Table,
    TextualSelect,
    Update,
    bindparam,
    insert,
    literal,
    union_all,
)
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from basics.dialects import dialect_of

Write = Insert | Update | Delete | TextualSelect
"""A write to batch; a `TextualSelect` is a textual statement (`text(...).columns()`), such as an upsert."""

Values = dict[str, Any]
S = TypeVar("S")

MOST_SHAPES = 1_000
"""Shapes kept per kind of statement. A turn's shape varies with its steps, audit rows and events, so a few dozen
cover nearly every turn; past this many (a run of unusual turns) the kept ones are dropped and built again."""


@dataclass(frozen=True, slots=True)
class Bound:
    """A statement built once for its shape, with its values as named parameters, and the values of one use."""

    statement: Write
    values: Values


def row_parameters(table: Table, names: Sequence[str], position: int, prefix: str) -> list[BindParameter[Any]]:
    """Row `position` of a many-row insert: one parameter per column of `names`, `{prefix}{position}_{name}`,
    typed as its column. `rows_values` gives their values."""
    return [bindparam(f"{prefix}{position}_{name}", type_=table.c[name].type) for name in names]


def rows_values(rows: Sequence[dict[str, Any]], names: Sequence[str], prefix: str) -> Values:
    """The values of `row_parameters`' parameters for `rows`."""
    return {f"{prefix}{i}_{name}": row[name] for i, row in enumerate(rows) for name in names}


@lru_cache(maxsize=MOST_SHAPES)
def rows_insert(table: Table, names: tuple[str, ...], count: int, prefix: str) -> Insert:
    """`INSERT ... SELECT` of `count` rows of the columns `names` (`row_parameters`). A `VALUES` list of several
    rows is a statement SQLAlchemy cannot cache; this form is built once per number of rows."""
    selects = [select(*row_parameters(table, names, i, prefix)) for i in range(count)]
    return insert(table).from_select(list(names), selects[0] if count == 1 else union_all(*selects))


def insert_rows(table: Table, rows: Sequence[dict[str, Any]], prefix: str) -> Bound:
    """Insert `rows` (the same keys each)."""
    names = tuple(rows[0])
    return Bound(rows_insert(table, names, len(rows), prefix), rows_values(rows, names, prefix))


@lru_cache(maxsize=MOST_SHAPES)
def row_insert(table: Table, names: tuple[str, ...], prefix: str, returning: str | None = None) -> Insert:
    """A one-row insert of the columns `names`, each value the parameter `{prefix}_{name}`; with `returning`, it
    returns that column."""
    statement = insert(table).values({name: bindparam(f"{prefix}_{name}", type_=table.c[name].type) for name in names})
    return statement.returning(table.c[returning]) if returning else statement


def insert_row(table: Table, row: dict[str, Any], prefix: str, returning: str | None = None) -> Bound:
    return Bound(row_insert(table, tuple(row), prefix, returning), {f"{prefix}_{k}": v for k, v in row.items()})


def built_once(shapes: dict[Hashable, S], shape: Hashable, build: Callable[[], S]) -> S:
    """The statement built for `shape`, building it the first time."""
    built = shapes.get(shape)
    if built is None:
        if len(shapes) >= MOST_SHAPES:
            shapes.clear()
        built = shapes.setdefault(shape, build())
    return built


_TOGETHER: dict[Hashable, Any] = {}
_BEFORE: dict[Hashable, Write] = {}


async def run_together(session: AsyncSession, writes: Sequence[Bound]) -> None:
    """Run `writes` in `session`'s transaction: as one statement on PostgreSQL, in order elsewhere."""
    if not writes:
        return
    if len(writes) == 1 or not dialect_of(session.bind).one_statement_writes:
        for write in writes:
            await run(session, write)
        return
    statements = tuple(write.statement for write in writes)
    together = built_once(
        _TOGETHER,
        statements,
        lambda: select(literal(1)).add_cte(*(w.cte(f"write_{i}") for i, w in enumerate(statements))),
    )
    await session.exec(together, params=merged(writes))


async def run_before(session: AsyncSession, writes: Sequence[Bound], last: Bound) -> CursorResult[Any]:
    """Run `writes`, then `last`, whose result (its RETURNING rows) comes back: on PostgreSQL the writes ride on
    `last` as CTEs, one statement in all."""
    if writes and dialect_of(session.bind).one_statement_writes:
        statements = tuple(write.statement for write in writes)
        final = last.statement
        assert isinstance(final, Insert | Update | Delete)
        before = built_once(
            _BEFORE,
            (statements, final),
            lambda: final.add_cte(*(w.cte(f"write_{i}") for i, w in enumerate(statements))),
        )
        return await run(session, Bound(before, merged([*writes, last])))
    for write in writes:
        await run(session, write)
    return await run(session, last)


async def run(session: AsyncSession, write: Bound) -> CursorResult[Any]:
    """Run one bound statement in `session`'s transaction."""
    return await session.exec(write.statement, params=write.values)  # type: ignore[arg-type]


def merged(writes: Sequence[Bound]) -> Values:
    values: Values = {}
    for write in writes:
        values.update(write.values)
    return values
