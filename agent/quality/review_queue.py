"""The review queue: flagged runs, newest first, one row per run, a page at a time.

The queue is read from `run_flags`, newest flag first, through its indexes (`ix_run_flags_kind_created` when a
kind is chosen, `ix_run_flags_created` otherwise), so a page costs the rows it shows plus the flags it skips, never
a scan of every run. A run with several flags is listed once, at its newest flag that matches the filter: a flag
with a newer matching flag on the same run is skipped (a lookup by `ix_run_flags_run`; a run has a handful of
flags). Pages are keyset pages: the next one starts after the last flag shown (its time and id), so a flag
recorded while a reviewer reads does not shift what the next page shows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, exists, or_
from sqlalchemy.orm import aliased
from sqlmodel import col, select

from agent.conversations.tables import Run, RunFlag
from basics.database import Database

PAGE_SIZE = 50


@dataclass(frozen=True, slots=True)
class ReviewFilter:
    """What the reviewer narrowed the queue to; None means any."""

    kind: str | None = None
    """A `FlagKind` value: runs with a flag of this kind."""
    flagged_from: datetime | None = None
    """Flags recorded at or after this moment."""
    flagged_before: datetime | None = None
    """Flags recorded before this moment."""
    model: str | None = None
    """`runs.model_name`, exactly."""
    prompt_version: str | None = None
    """`runs.prompt_version`, exactly."""


@dataclass(frozen=True, slots=True)
class ReviewRow:
    run: Run
    flags: list[RunFlag]
    """Every flag of the run, oldest first (not only those the filter matched)."""
    newest: RunFlag
    """The flag the row is listed at."""


@dataclass(frozen=True, slots=True)
class ReviewPage:
    rows: list[ReviewRow] = field(default_factory=list)
    next_after: int | None = None
    """The id of the last flag shown, when there may be more rows: the `after` of the next page."""


def _matching(flag: type[RunFlag], wanted: ReviewFilter) -> list[object]:
    conditions: list[object] = []
    if wanted.kind is not None:
        conditions.append(col(flag.kind) == wanted.kind)
    if wanted.flagged_from is not None:
        conditions.append(col(flag.created_at) >= wanted.flagged_from)
    if wanted.flagged_before is not None:
        conditions.append(col(flag.created_at) < wanted.flagged_before)
    return conditions


async def review_queue(
    database: Database, wanted: ReviewFilter, *, after: int | None = None, limit: int = PAGE_SIZE
) -> ReviewPage:
    """One page of flagged runs matching `wanted`, newest flag first, after the flag with id `after`."""
    newer = aliased(RunFlag)
    superseded = exists().where(
        col(newer.run_id) == col(RunFlag.run_id),
        or_(
            col(newer.created_at) > col(RunFlag.created_at),
            and_(col(newer.created_at) == col(RunFlag.created_at), col(newer.id) > col(RunFlag.id)),
        ),
        *_matching(newer, wanted),  # type: ignore[arg-type]
    )
    query = (
        select(RunFlag, Run)
        .join(Run, col(Run.id) == col(RunFlag.run_id))
        .where(*_matching(RunFlag, wanted), ~superseded)  # type: ignore[arg-type]
        .order_by(col(RunFlag.created_at).desc(), col(RunFlag.id).desc())
        .limit(limit + 1)
    )
    if wanted.model is not None:
        query = query.where(col(Run.model_name) == wanted.model)
    if wanted.prompt_version is not None:
        query = query.where(col(Run.prompt_version) == wanted.prompt_version)
    async with database.session(readonly=True) as db:
        if after is not None:
            last = await db.get(RunFlag, after)
            if last is None:
                return ReviewPage()
            query = query.where(
                or_(
                    col(RunFlag.created_at) < last.created_at,
                    and_(col(RunFlag.created_at) == last.created_at, col(RunFlag.id) < after),
                )
            )
        found = list((await db.exec(query)).all())
        more = len(found) > limit
        found = found[:limit]
        run_ids = [run.id for _, run in found]
        every = (
            await db.exec(
                select(RunFlag)
                .where(col(RunFlag.run_id).in_(run_ids))
                .order_by(col(RunFlag.created_at), col(RunFlag.id))
            )
        ).all()
    by_run: dict[str, list[RunFlag]] = {}
    for flag in every:
        by_run.setdefault(flag.run_id, []).append(flag)
    rows = [ReviewRow(run=run, flags=by_run.get(run.id, [flag]), newest=flag) for flag, run in found]
    return ReviewPage(rows=rows, next_after=found[-1][0].id if more and found else None)


async def flags_of(database: Database, run_ids: list[str]) -> dict[str, list[RunFlag]]:
    """The flags of each of these runs, oldest first (the run review shows them beside each run)."""
    if not run_ids:
        return {}
    async with database.session(readonly=True) as db:
        rows = (
            await db.exec(
                select(RunFlag)
                .where(col(RunFlag.run_id).in_(run_ids))
                .order_by(col(RunFlag.created_at), col(RunFlag.id))
            )
        ).all()
    found: dict[str, list[RunFlag]] = {}
    for flag in rows:
        found.setdefault(flag.run_id, []).append(flag)
    return found
