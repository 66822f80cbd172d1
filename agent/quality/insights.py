"""The store's figures: how the assistant is doing, per day and per hour. One computation for the desk's insights
page, `GET /v1/insights` and `support insights`, so the three never disagree.

Every figure is aggregated in the database over a bounded range of `runs.started_at` (index `ix_runs_started`);
a run belongs to the bucket in which it started, and so do its flags, its customer's verdict and its cost:

    conversations        distinct conversations with a run in the bucket
    resolution rate      of those, the share answered without a person and without a failure: none of their runs
                         in the bucket was handed off, failed or ran out of budget
    hand-off rate        the share with a run handed to a person
    helpful rate         of the runs a customer rated, the share rated helpful
    flagged rate         of the runs, the share with at least one `run_flags` row
    fallback rate        of the runs, the share a fallback model answered (`runs.fallback_reason`)
    cost / conversation  model cost of the bucket's runs over its conversations
    latency p50 / p95    of the runs that finished, `finished_at - started_at` in seconds

Percentiles are nearest-rank (the k-th smallest value, k = ceil(p x n)), computed with `ROW_NUMBER()` over each
bucket: the same SQL on SQLite and PostgreSQL (which alone has `percentile_cont`), and a value that really
occurred rather than an interpolation. The age of the oldest open approval is read at the end of each bucket (now,
for the bucket still running) from the approvals open during the range, which `ix_approvals_expires_at` bounds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, text

from agent.held.status import ApprovalStatus, RunStatus
from basics.database import Database
from tools.store.tables import UTCDateTime

DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
DEFAULT_DAYS = 7
DEFAULT_HOURS = 24
MAX_DAYS = 90
MAX_HOURS = 168
TOP = 5
"""How many tools and flags the week's lists hold."""
PERCENTILES = (50, 95)
UNRESOLVED_STATUSES = (RunStatus.HANDED_OFF, RunStatus.FAILED, RunStatus.BUDGET_EXHAUSTED)


@dataclass(frozen=True, slots=True)
class Bucket:
    """The figures of one day or one hour. A rate is None where nothing was there to divide (no conversation,
    no rated run): "no data" is not 0 %."""

    start: datetime
    conversations: int = 0
    runs: int = 0
    resolution_rate: float | None = None
    handoff_rate: float | None = None
    rated: int = 0
    helpful_rate: float | None = None
    flagged_rate: float | None = None
    fallback_rate: float | None = None
    cost_usd: float = 0.0
    cost_per_conversation_usd: float | None = None
    latency_p50_s: float | None = None
    latency_p95_s: float | None = None
    oldest_open_approval_s: float | None = None


@dataclass(frozen=True, slots=True)
class Ranked:
    name: str
    count: int


@dataclass(frozen=True, slots=True)
class Insights:
    generated_at: datetime
    days: list[Bucket]
    hours: list[Bucket]
    top_tools: list[Ranked] = field(default_factory=list)
    """Tool calls over the daily range, most used first."""
    top_flags: list[Ranked] = field(default_factory=list)
    """Flagged runs over the daily range by kind of flag, most frequent first."""
    oldest_open_approval_s: float | None = None
    """How long the oldest approval still waiting for a decision has waited, now."""


def floor_to(moment: datetime, width: timedelta) -> datetime:
    """The start of the UTC day or hour holding `moment`."""
    moment = moment.astimezone(UTC)
    if width == DAY:
        return moment.replace(hour=0, minute=0, second=0, microsecond=0)
    return moment.replace(minute=0, second=0, microsecond=0)


class _Sql:
    """The two things the dialects spell differently: seconds since the epoch, and a whole bucket number."""

    def __init__(self, sqlite: bool) -> None:
        self.sqlite = sqlite

    def seconds(self, column: str) -> str:
        if self.sqlite:  # julianday keeps the fraction of a second that strftime('%s') drops
            return f"((julianday({column}) - 2440587.5) * 86400.0)"
        return f"EXTRACT(EPOCH FROM {column})"

    def bucket(self, column: str) -> str:
        offset = f"({self.seconds(column)} - :origin) / :width"
        # rows are at or after the origin, so truncation is the floor; PostgreSQL's cast would round
        return f"CAST({offset} AS INTEGER)" if self.sqlite else f"CAST(FLOOR({offset}) AS INTEGER)"

    def latency(self) -> str:
        return f"({self.seconds('finished_at')} - {self.seconds('started_at')})"


async def compute(
    database: Database, *, days: int = DEFAULT_DAYS, hours: int = DEFAULT_HOURS, now: datetime | None = None
) -> Insights:
    """The figures of the last `days` UTC days and the last `hours` hours, the current day and hour included."""
    if not 1 <= days <= MAX_DAYS or not 1 <= hours <= MAX_HOURS:
        raise ValueError(f"days must be 1..{MAX_DAYS} and hours 1..{MAX_HOURS}")
    now = (now or datetime.now(UTC)).astimezone(UTC)
    sql = _Sql(database.is_sqlite)
    async with database.session(readonly=True) as session:
        reader = _Reader(session, sql, now)
        day_buckets = await reader.buckets(floor_to(now, DAY) - (days - 1) * DAY, DAY, days)
        hour_buckets = await reader.buckets(floor_to(now, HOUR) - (hours - 1) * HOUR, HOUR, hours)
        week_start = floor_to(now, DAY) - (days - 1) * DAY
        top_tools = await reader.top_tools(week_start)
        top_flags = await reader.top_flags(week_start)
        oldest = await reader.oldest_open_approval()
    return Insights(now, day_buckets, hour_buckets, top_tools, top_flags, oldest)


class _Reader:
    def __init__(self, session: Any, sql: _Sql, now: datetime) -> None:
        self.session = session
        self.sql = sql
        self.now = now

    async def rows(self, statement: str, **params: Any) -> list[Any]:
        query = text(statement).bindparams(
            *(bindparam(name, type_=UTCDateTime()) for name, value in params.items() if isinstance(value, datetime))
        )  # stored as the columns store them: SQLite compares the text
        connection = await self.session.connection()
        return list((await connection.execute(query, params)).all())

    async def buckets(self, origin: datetime, width: timedelta, count: int) -> list[Bucket]:
        end = origin + count * width
        params = {"start": origin, "end": end, "origin": origin.timestamp(), "width": width.total_seconds()}
        figures: dict[int, dict[str, Any]] = {i: {} for i in range(count)}
        for row in await self.rows(self._conversation_sql(), **params):
            conversations, handed, unresolved = int(row.conversations), int(row.handed), int(row.unresolved)
            figures[row.b].update(
                conversations=conversations,
                handoff_rate=handed / conversations,
                resolution_rate=(conversations - unresolved) / conversations,
            )
        for row in await self.rows(self._run_sql(), **params):
            runs, rated = int(row.runs), int(row.rated or 0)
            figures[row.b].update(
                runs=runs,
                rated=rated,
                helpful_rate=int(row.helpful or 0) / rated if rated else None,
                flagged_rate=int(row.flagged or 0) / runs,
                fallback_rate=int(row.fallbacks or 0) / runs,
                cost_usd=int(row.cost or 0) / 1_000_000,
            )
        for row in await self.rows(self._latency_sql(), **params):
            figures[row.b].update(latency_p50_s=float(row.p50), latency_p95_s=float(row.p95))
        waits = await self._approval_waits(origin, end)
        buckets = []
        for index in range(count):
            start = origin + index * width
            values = figures[index]
            conversations = values.get("conversations", 0)
            cost = values.get("cost_usd", 0.0)
            buckets.append(
                Bucket(
                    start=start,
                    cost_per_conversation_usd=cost / conversations if conversations else None,
                    oldest_open_approval_s=oldest_wait(waits, min(start + width, self.now)),
                    **values,
                )
            )
        return buckets

    def _window(self) -> str:
        return "started_at >= :start AND started_at < :end"

    def _conversation_sql(self) -> str:
        unresolved = ", ".join(f"'{status}'" for status in UNRESOLVED_STATUSES)
        return f"""
            WITH per_conversation AS (
                SELECT {self.sql.bucket("started_at")} AS b, conversation_id,
                       MAX(CASE WHEN status = 'handed_off' THEN 1 ELSE 0 END) AS handed,
                       MAX(CASE WHEN status IN ({unresolved}) THEN 1 ELSE 0 END) AS unresolved
                FROM runs WHERE {self._window()}
                GROUP BY 1, conversation_id
            )
            SELECT b, COUNT(*) AS conversations, SUM(handed) AS handed, SUM(unresolved) AS unresolved
            FROM per_conversation GROUP BY b"""  # noqa: S608 - constant fragments, values bound

    def _run_sql(self) -> str:
        """Flags and verdicts come after their run starts: bounding them by the range's start as well lets the
        database read the range's rows of both (their `created_at` indexes), not every flag and verdict ever."""
        return f"""
            SELECT {self.sql.bucket("runs.started_at")} AS b,
                   COUNT(*) AS runs,
                   SUM(CASE WHEN runs.fallback_reason IS NOT NULL THEN 1 ELSE 0 END) AS fallbacks,
                   COUNT(flagged.run_id) AS flagged,
                   COUNT(feedback.id) AS rated,
                   SUM(CASE WHEN feedback.helpful THEN 1 ELSE 0 END) AS helpful,
                   SUM(runs.cost_micro_usd) AS cost
            FROM runs
            LEFT JOIN feedback ON feedback.run_id = runs.id AND feedback.created_at >= :start
            LEFT JOIN (SELECT DISTINCT run_id FROM run_flags WHERE created_at >= :start) AS flagged
                   ON flagged.run_id = runs.id
            WHERE runs.started_at >= :start AND runs.started_at < :end
            GROUP BY 1"""  # noqa: S608 - constant fragments, values bound

    def _latency_sql(self) -> str:
        ranks = ", ".join(f"MAX(CASE WHEN k = ({p} * n + 99) / 100 THEN seconds END) AS p{p}" for p in PERCENTILES)
        return f"""
            WITH finished AS (
                SELECT {self.sql.bucket("started_at")} AS b, {self.sql.latency()} AS seconds
                FROM runs WHERE {self._window()} AND finished_at IS NOT NULL AND status <> 'running'
            ), ranked AS (
                SELECT b, seconds, ROW_NUMBER() OVER (PARTITION BY b ORDER BY seconds) AS k,
                       COUNT(*) OVER (PARTITION BY b) AS n
                FROM finished
            )
            SELECT b, {ranks} FROM ranked GROUP BY b"""  # noqa: S608 - constant fragments, values bound

    async def _approval_waits(self, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        """(opened, closed) of each approval open at some moment of the range; closed is when it was decided or
        expired, or the far future while it waits. Bounded by `expires_at` (indexed): an approval that expired
        before the range cannot have been open in it."""
        rows = await self.rows(
            """SELECT created_at, decided_at, expires_at, status FROM approvals
               WHERE kind = 'approval' AND expires_at > :start AND created_at < :end""",
            start=start,
            end=end,
        )
        waits = []
        for row in rows:
            opened = as_utc(row.created_at)
            if row.status == ApprovalStatus.PENDING:
                closed = as_utc(row.expires_at)
            else:
                closed = as_utc(row.decided_at) if row.decided_at is not None else as_utc(row.expires_at)
            waits.append((opened, closed))
        return waits

    async def top_tools(self, start: datetime) -> list[Ranked]:
        rows = await self.rows(
            """SELECT steps.tool AS name, COUNT(*) AS count
                FROM runs JOIN steps ON steps.run_id = runs.id
                WHERE runs.started_at >= :start AND runs.started_at < :end AND steps.kind = 'tool'
                      AND steps.tool IS NOT NULL
                GROUP BY steps.tool ORDER BY count DESC, name LIMIT :top""",
            top=TOP,
            start=start,
            end=self.now + timedelta(microseconds=1),
        )
        return [Ranked(str(row.name), int(row.count)) for row in rows]

    async def top_flags(self, start: datetime) -> list[Ranked]:
        rows = await self.rows(
            """SELECT run_flags.kind AS name, COUNT(DISTINCT run_flags.run_id) AS count
                FROM runs JOIN run_flags ON run_flags.run_id = runs.id
                WHERE runs.started_at >= :start AND runs.started_at < :end
                GROUP BY run_flags.kind ORDER BY count DESC, name LIMIT :top""",
            top=TOP,
            start=start,
            end=self.now + timedelta(microseconds=1),
        )
        return [Ranked(str(row.name), int(row.count)) for row in rows]

    async def oldest_open_approval(self) -> float | None:
        rows = await self.rows(
            "SELECT MIN(created_at) AS opened FROM approvals WHERE status = 'pending' AND kind = 'approval'"
        )
        opened = rows[0].opened if rows else None
        return None if opened is None else max(0.0, (self.now - as_utc(opened)).total_seconds())


def oldest_wait(waits: list[tuple[datetime, datetime]], moment: datetime) -> float | None:
    """How long the oldest approval open at `moment` had waited then; None when none was open."""
    opened = [start for start, end in waits if start <= moment < end]
    return (moment - min(opened)).total_seconds() if opened else None


def as_utc(value: datetime | str) -> datetime:
    """A timestamp from a raw row: SQLite hands back text and no zone; every stored time is UTC."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
