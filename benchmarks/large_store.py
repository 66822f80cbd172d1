"""A turn costs the same on a store with a long history as on a new one: statements, commits, rows returned,
the process's CPU and the database's CPU per turn, on an empty store and on one with a million runs.

    python benchmarks/large_store.py [--runs 1000000] [--turns 200] [--keep] [--explain] [--no-sqlite]

The large store is seeded by `testkit.history` (a million runs with their two million messages, three million
steps, five million feed events, audit rows, held calls, hand-offs, verdicts, flags, ledger writes, spend days
and allowances, spread over 90 days and many customers; the benchmark's customer has one conversation in a
hundred). Seeding takes minutes: `--keep` keeps the seeded database (PostgreSQL `support_large_<runs>`, SQLite
`<tmp>/support_large_<runs>.sqlite3`) and reuses it on the next run.

The same read-only tool turn (the model looks an order up, then answers) is measured on both stores, in three
phases of `--turns` each after a warm-up: opening a conversation (its own allowance bucket), the first message of
a new conversation, and a later message of a conversation that already has a turn (it also reads the history).
CPU is `time.process_time` of this process (the service runs in it, and SQLite with it); on PostgreSQL the
database's CPU is that of the service's server processes (`/proc/<pid>/stat`, in the kernel's 10 ms ticks, so
only the sum over a phase means anything). `--explain` prints the plan of every statement of one turn of each kind
on the large store (PostgreSQL: as it ran, with time and buffers, through `auto_explain`; SQLite: its query plan)
and flags any read of a whole large table, or sort of many rows. Exits non-zero when a turn's statements, commits
or rows differ between the stores, or a plan has a finding.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg

from api.idempotency import IdempotencyKeys
from basics.clock import utcnow
from basics.database import Database
from benchmarks.load.cpu import process_tree_cpu_s
from policies.rules import received_within, refunds_since
from testkit.databases import (
    POSTGRES_ADMIN_URL,
    create_postgres,
    drop_postgres,
    postgres_exists,
    postgres_url,
    prepare_schema,
)
from testkit.history import HistorySize, seed_history, seeded
from testkit.plans import Plan, explain_sqlite, explaining_postgres
from testkit.service import ServiceClient, running_service
from testkit.statements import StatementCount, counting
from testkit.turn_cost import CUSTOMER, QUESTION, QUIET, read_only_turns

WARMUP = 20
PHASES = ("new conversation", "first message", "later message")
LIMITS: dict[str, Any] = {
    "SUPPORT_CHAT_PER_MINUTE": 10**9,
    "SUPPORT_CONVERSATIONS_PER_HOUR": 10**9,
    "SUPPORT_CUSTOMER_DAILY_COST_USD": 10**6,
}
"""The allowance buckets and the customer's daily spend are on (they are read and written every turn) and never run
out, on a kept store either, whose customer spends on every run of the benchmark: this measures a turn, not the
limits."""


@dataclass
class Phase:
    turns: int = 0
    count: StatementCount = field(default_factory=StatementCount)
    cpu_s: float = 0.0
    database_cpu_s: float | None = None
    wall_s: float = 0.0
    one_turn: list[tuple[str, object]] = field(default_factory=list)


# ---- the stores ------------------------------------------------------------------------------------------------


def _prepare(url: str) -> None:
    async def migrate_and_seed_the_shop() -> None:
        database = Database(url)
        await prepare_schema(database)
        await database.dispose()

    asyncio.run(migrate_and_seed_the_shop())


def _seed(url: str, size: HistorySize) -> None:
    print(f"seeding {size.runs:,} runs in {size.conversations:,} conversations of {size.customers:,} customers")
    began = time.perf_counter()
    seed_history(url, size, lambda line: print(f"  {line}", flush=True))
    print(f"  seeded in {time.perf_counter() - began:.0f} s")


Step = Callable[[], object]  # one step of setting a store up or taking it down (`exists`: its answer counts)


@contextmanager
def postgres_store(runs: int, keep: bool) -> Iterator[str]:
    """An empty store (runs=0) or a large one, on PostgreSQL; a kept large one is reused."""
    name = f"support_large_{runs}" if runs else f"support_empty_{os.getpid()}"

    def fresh() -> None:
        drop_postgres(name)
        create_postgres(name)

    exists, remove = partial(postgres_exists, name), partial(drop_postgres, name)
    yield from _store(postgres_url(name), runs, keep, f"database {name}", exists, fresh, remove)


@contextmanager
def sqlite_store(runs: int, keep: bool) -> Iterator[str]:
    """The same on SQLite, a file in the temporary folder (with its WAL and shared-memory files)."""
    folder = Path(tempfile.gettempdir())
    path = folder / (f"support_large_{runs}.sqlite3" if runs else f"support_empty_{os.getpid()}.sqlite3")

    def remove() -> None:
        for leftover in folder.glob(path.name + "*"):
            leftover.unlink()

    fresh = partial(path.unlink, missing_ok=True)
    yield from _store(f"sqlite:///{path}", runs, keep, f"file {path}", path.exists, fresh, remove)


def _store(url: str, runs: int, keep: bool, kept_as: str, exists: Step, fresh: Step, remove: Step) -> Iterator[str]:
    """A store at `url`: reused when a kept large one `exists` and is seeded, else made `fresh`, migrated and
    seeded with `runs` runs; `remove`d afterwards unless it is a large one to keep."""
    if keep and runs and exists() and seeded(url):
        print(f"reusing the seeded {kept_as}")
    else:
        fresh()
        _prepare(url)
        if runs:
            _seed(url, HistorySize(runs))
    try:
        yield url
    finally:
        if not (keep and runs):
            remove()


# ---- measuring -------------------------------------------------------------------------------------------------


def _server_processes(url: str) -> list[int]:
    """The PostgreSQL server processes serving the database at `url` (the service's pooled connections)."""
    database = url.rsplit("/", 1)[1]
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", (database,)
        ).fetchall()
    return [int(row[0]) for row in rows]


def _cpu_of(pids: list[int]) -> float:
    return sum(process_tree_cpu_s(pid) for pid in pids)


async def _phase(service: ServiceClient, phase: Phase, pids: list[int], turns: list[tuple[str, str | None]]) -> None:
    """Run `turns` (customer message in a conversation; None: open a conversation) and add their cost to `phase`."""
    engine = service.services.database.engine.sync_engine
    database_before = _cpu_of(pids)
    wall, cpu = time.perf_counter(), time.process_time()
    with counting(engine) as count:
        for conversation, content in turns:
            if content is None:
                await service.new_conversation(CUSTOMER)
                continue
            answer = await service.say(CUSTOMER, conversation, content)
            assert answer.json()["run"]["status"] == "completed", answer.text
    phase.cpu_s += time.process_time() - cpu
    phase.wall_s += time.perf_counter() - wall
    if pids:
        phase.database_cpu_s = (phase.database_cpu_s or 0.0) + _cpu_of(pids) - database_before
    phase.turns += len(turns)
    for name in ("statements", "rows", "commits", "transactions"):
        setattr(phase.count, name, getattr(phase.count, name) + getattr(count, name))
    per = len(count.sent) // max(len(turns), 1)
    phase.one_turn = count.sent[-per:] if per else []


async def measure(url: str, turns: int) -> dict[str, Phase]:
    phases = {name: Phase() for name in PHASES}
    model = read_only_turns(2 * (turns + WARMUP) + 2)
    async with running_service(url, model, **LIMITS, **QUIET) as service:
        for counted in (False, True):
            n = turns if counted else WARMUP
            started = [await service.new_conversation(CUSTOMER) for _ in range(n)]
            pids = _server_processes(url) if counted and url.startswith("postgresql") else []
            fresh = Phase()
            await _phase(service, phases[PHASES[0]] if counted else fresh, pids, [("", None)] * n)
            await _phase(service, phases[PHASES[1]] if counted else fresh, pids, [(c, QUESTION) for c in started])
            await _phase(service, phases[PHASES[2]] if counted else fresh, pids, [(c, "And now?") for c in started])
            if counted and pids and set(_server_processes(url)) != set(pids):
                print("  (the pool opened connections while measuring: the database CPU misses theirs)")
    return phases


async def explain_postgres(url: str) -> dict[str, list[Plan]]:
    """Plans of one turn of each kind, as they ran on the store at `url`."""
    plans: dict[str, list[Plan]] = {}
    async with running_service(url, read_only_turns(4), **LIMITS, **QUIET) as service:
        await service.say(CUSTOMER, await service.new_conversation(CUSTOMER), QUESTION)  # warm
        engine = service.services.database.engine
        await engine.dispose()  # every connection from here on is opened with the plans switched on
        with explaining_postgres(engine.sync_engine) as seen:
            conversation = await service.new_conversation(CUSTOMER)
            plans[PHASES[0]], seen[:] = list(seen), []
            await service.say(CUSTOMER, conversation, QUESTION)
            plans[PHASES[1]], seen[:] = list(seen), []
            await service.say(CUSTOMER, conversation, "And now?")
            plans[PHASES[2]] = list(seen)
        await engine.dispose()
    _flag_large_scans(url, plans)
    return plans


async def explain_other_reads(url: str) -> dict[str, list[Plan]]:
    """Plans of the reads around a turn on the customer's path that grow with a customer's or the store's history
    if an index is missing: the widget's list of conversations, a retried request's replay, the held call of a
    run, the money tiers' sums, the refunds, and the housekeeping that looks for unfinished work."""
    plans: dict[str, list[Plan]] = {}
    postgres = url.startswith("postgresql")
    async with running_service(url, read_only_turns(2), **LIMITS, **QUIET) as service:
        services = service.services
        conversation = await service.new_conversation(CUSTOMER)
        run_id = (await service.say(CUSTOMER, conversation, QUESTION)).json()["run"]["id"]
        now = utcnow()

        async def tier_sums() -> object:
            since = now - timedelta(days=services.policy.tier_window.days)
            async with services.database.session(readonly=True) as session:
                return await received_within(session, services.policy, "issue_refund", CUSTOMER, "#W2611340", since)

        async def refunds(customer: str | None, since: datetime) -> object:
            async with services.database.session(readonly=True) as session:
                return await refunds_since(session, since, customer)

        reads: dict[str, Callable[[], Awaitable[object]]] = {
            "list of conversations": lambda: services.runs.conversations_of(CUSTOMER, limit=20),
            "conversation read": lambda: services.runs.messages(conversation),
            "a retried request": lambda: IdempotencyKeys(services.database)._response_of(run_id),
            "held call of a run": lambda: services.approvals.held_in(run_id),
            "approval a run resumed": lambda: services.approvals.resumed_by(run_id),
            "unfinished approvals": lambda: services.approvals.unfinished(now),
            "approvals due to expire": services.approvals.due_for_expiry,
            "stopped processes' runs": services.recovery.sweep,
            "money tier sums": tier_sums,
            "customer's refunds": lambda: refunds(CUSTOMER, now - timedelta(days=30)),
            "store's refunds today": lambda: refunds(None, now.replace(hour=0, minute=0, second=0, microsecond=0)),
        }
        engine = services.database.engine
        await engine.dispose()  # PostgreSQL: every connection from here on is opened with the plans switched on
        plans_seen: AbstractContextManager[list[Plan]] = (
            explaining_postgres(engine.sync_engine) if postgres else nullcontext([])
        )
        with plans_seen as seen:
            for name, read in reads.items():
                with counting(engine.sync_engine) as count:
                    await read()
                plans[name], seen[:] = list(seen) if postgres else explain_sqlite(_path(url), count.sent), []
        await engine.dispose()
    if postgres:
        _flag_large_scans(url, plans)
    return plans


def _path(url: str) -> str:
    return url.removeprefix("sqlite:///")


def _flag_large_scans(url: str, plans: dict[str, list[Plan]]) -> None:
    with psycopg.connect(url, autocommit=True) as connection:
        rows_of: dict[str, float] = dict(
            connection.execute("SELECT relname, reltuples FROM pg_class WHERE relkind = 'r'").fetchall()
        )
    for plan in (plan for seen in plans.values() for plan in seen):
        plan.flag_large_scans(rows_of)


# ---- printing --------------------------------------------------------------------------------------------------


def print_phases(store: str, phases: dict[str, Phase]) -> None:
    print(f"  {store}")
    for name, phase in phases.items():
        n = phase.turns
        database = f"{phase.database_cpu_s / n * 1000:6.2f}" if phase.database_cpu_s is not None else "     -"
        print(
            f"    {name:17} {phase.count.statements / n:5.1f} statements {phase.count.commits / n:4.1f} commits "
            f"{phase.count.rows / n:5.1f} rows   CPU {phase.cpu_s / n * 1000:6.2f} ms  database CPU {database} ms  "
            f"wall {phase.wall_s / n * 1000:6.2f} ms   ({n} turns)"
        )


def print_plans(plans: dict[str, list[Plan]]) -> list[str]:
    findings = []
    for name, seen in plans.items():
        print(f"  {name}")
        for plan in seen:
            timing = f"{plan.time_ms:7.3f} ms {plan.buffers:5d} buffers  " if plan.time_ms is not None else ""
            print(f"    {timing}{plan.statement[:110]}")
            if plan.nodes:
                print(f"      {' | '.join(plan.nodes)}")
            for finding in plan.findings:
                print(f"      FINDING: {finding}")
                findings.append(f"{name}: {finding}")
    return findings


def differences(empty: dict[str, Phase], large: dict[str, Phase]) -> list[str]:
    found = []
    for name in PHASES:
        for what in ("statements", "commits", "rows"):
            a = getattr(empty[name].count, what) / empty[name].turns
            b = getattr(large[name].count, what) / large[name].turns
            if a != b:
                found.append(f"{name}: {what} per turn {a:.1f} on the empty store, {b:.1f} on the large one")
    return found


def run_backend(backend: str, args: argparse.Namespace) -> list[str]:
    store = postgres_store if backend == "PostgreSQL" else sqlite_store
    print(f"{backend}: a read-only tool turn, {args.turns} turns of each kind after {WARMUP} warm-up turns")
    problems = []
    cpu: dict[tuple[str, str], list[float]] = {}
    database_cpu: dict[tuple[str, str], list[float]] = {}
    with store(0, keep=False) as empty_url, store(args.runs, keep=args.keep) as large_url:
        stores = {"empty store": empty_url, f"large store ({args.runs:,} runs)": large_url}
        for rep in range(1, args.repeat + 1):
            measured = {name: asyncio.run(measure(url, args.turns)) for name, url in stores.items()}
            print(f" rep {rep}")
            for name, phases in measured.items():
                print_phases(name, phases)
                for phase, figures in phases.items():
                    cpu.setdefault((name, phase), []).append(figures.cpu_s / figures.turns * 1000)
                    if figures.database_cpu_s is not None:
                        database_cpu.setdefault((name, phase), []).append(figures.database_cpu_s / figures.turns * 1000)
            problems += differences(*measured.values())
        if args.repeat > 1:
            print(f" CPU per turn, median of {args.repeat} reps (ms): {'  vs  '.join(stores)}")
            for phase in PHASES:
                for what, per_turn in (("process", cpu), ("database", database_cpu)):
                    if per_turn:
                        on_empty, on_large = (statistics.median(per_turn[(name, phase)]) for name in stores)
                        ratio = on_large / on_empty
                        print(f"    {phase:17} {what:8}  {on_empty:6.2f}  vs  {on_large:6.2f}   ({ratio:4.2f}x)")
        if args.explain:
            print(f"plans on the large store ({backend})")
            if backend == "PostgreSQL":
                problems += print_plans(asyncio.run(explain_postgres(large_url)))
            else:
                large = measured[list(stores)[1]]
                problems += print_plans(
                    {name: explain_sqlite(_path(large_url), large[name].one_turn) for name in PHASES}
                )
            print(f"plans of other reads on a customer's path, on the large store ({backend})")
            problems += print_plans(asyncio.run(explain_other_reads(large_url)))
    return [f"{backend} {problem}" for problem in problems]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=1_000_000, help="runs in the large store")
    parser.add_argument("--turns", type=int, default=200, help="turns of each kind measured on each store")
    parser.add_argument("--repeat", type=int, default=1, help="measure both stores this many times, interleaved")
    parser.add_argument("--keep", action="store_true", help="keep the seeded store, and reuse a kept one")
    parser.add_argument("--explain", action="store_true", help="print the plans of one turn on the large store")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-sqlite", action="store_true")
    args = parser.parse_args()
    problems = []
    if not args.no_postgres:
        problems += run_backend("PostgreSQL", args)
    if not args.no_sqlite:
        problems += run_backend("SQLite", args)
    for problem in problems:
        print(f"NOT FLAT: {problem}")
    if problems:
        sys.exit(1)


if __name__ == "__main__":
    main()
