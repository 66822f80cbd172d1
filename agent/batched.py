"""Several writes of one transaction in one round trip.

A turn's closing transaction updates the run, adds its steps, its reads' audit rows and its reply, releases the
conversation and settles the day's spend: six statements, each a round trip to the database and a wait on the
event loop while the connection sits idle in its transaction. PostgreSQL runs data-modifying statements given as
common table expressions of one statement, all on the same snapshot and all or nothing; so there the writes go
as one statement. SQLite has no such form, but it is in-process (a round trip is a function call), so there they
run one after the other.

The writes must not depend on each other's effects (PostgreSQL does not let one CTE see another's changes, and
forbids changing one row twice in one statement): callers batch writes to different rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import CursorResult, Delete, Insert, Table, TextualSelect, Update, bindparam, insert, literal, union_all
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

Write = Insert | Update | Delete | TextualSelect
"""A write to batch; a `TextualSelect` is a textual statement (`text(...).columns()`), such as an upsert."""


def insert_rows(table: Table, rows: Sequence[dict[str, Any]]) -> Insert:
    """Insert `rows` (same keys each) as `INSERT ... SELECT` of bound values. A `VALUES` list of several rows is a
    statement SQLAlchemy cannot cache, and compiling it again costs more than the round trip it saves; this form
    is compiled once per number of rows."""
    names = list(rows[0])
    selects = [select(*(bindparam(None, row[name], type_=table.c[name].type) for name in names)) for row in rows]
    return insert(table).from_select(names, selects[0] if len(selects) == 1 else union_all(*selects))


async def run_together(session: AsyncSession, writes: Sequence[Write]) -> None:
    """Run `writes` in `session`'s transaction: as one statement on PostgreSQL, in order elsewhere."""
    if not writes:
        return
    if len(writes) == 1 or session.bind is None or _dialect(session) != "postgresql":
        for write in writes:
            await session.exec(write)  # type: ignore[arg-type]
        return
    ctes = [write.cte(f"write_{i}") for i, write in enumerate(writes)]
    await session.exec(select(literal(1)).add_cte(*ctes))


async def run_before(
    session: AsyncSession, writes: Sequence[Write], last: Insert | Update | Delete
) -> CursorResult[Any]:
    """Run `writes`, then `last`, whose result (its RETURNING rows) comes back: on PostgreSQL the writes ride on
    `last` as CTEs, one statement in all."""
    if writes and session.bind is not None and _dialect(session) == "postgresql":
        return await session.exec(last.add_cte(*(w.cte(f"write_{i}") for i, w in enumerate(writes))))
    for write in writes:
        await session.exec(write)  # type: ignore[arg-type]
    return await session.exec(last)


def _dialect(session: AsyncSession) -> str:
    bind: Any = session.bind
    return str(bind.dialect.name)
