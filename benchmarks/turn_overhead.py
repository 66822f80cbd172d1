"""Service overhead of one chat turn: HTTP request -> run -> 3 tool calls -> reply, with a scripted model that
answers instantly (so model time is excluded). SQLite, in-process ASGI.

Then what a turn asks of the database, counted with SQLAlchemy's engine events: statements, commits and
transactions of a read-only tool turn (one `get_order_details` call and an answer), on SQLite and PostgreSQL.
The script exits non-zero when PostgreSQL's counts are above the targets.

    python benchmarks/turn_overhead.py [--turns 300] [--no-postgres]

Targets: median <= 10 ms; on PostgreSQL at most 4 statements and 2 commits per read-only tool turn, for the first
message of a conversation and for a later one (which also reads the conversation's history).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.models.scripted import ScriptedModel, calls, say
from agent.telemetry.recorder import Telemetry
from testkit.databases import empty_postgres
from testkit.service import running_service
from testkit.statements import StatementCount, counting
from testkit.turn_cost import QUIET, read_only_turns

CUSTOMER = "james_li_5688"
WARMUP = 20
"""Turns run before timing starts (imports, caches, the database's first pages)."""
MAX_STATEMENTS = 4
MAX_COMMITS = 2
COUNTED_TURNS = 10


def script(turns: int) -> ScriptedModel:
    model = ScriptedModel()
    for _ in range(turns):
        model.add(
            calls(
                ("get_order_details", {"order_id": "#W2611340"}, None),
                ("get_customer_profile", {}, None),
                ("get_product_details", {"product_id": "8310926033"}, None),
            ),
            say("Your order is processed; the water bottle ships with the office chair."),
        )
    return model


async def run(turns: int, telemetry: Telemetry | None = None) -> list[float]:
    """Time `turns` turns (after a warm-up), each in a new conversation. With `telemetry`, tracing is on."""
    warmup = WARMUP
    with tempfile.TemporaryDirectory() as directory:
        url = f"sqlite:///{Path(directory) / 'bench.sqlite3'}"
        # The per-customer chat rate limit is lifted: this measures a turn, not the abuse limit.
        async with running_service(
            url,
            script(turns + warmup),
            telemetry=telemetry,
            SUPPORT_CHAT_PER_MINUTE=10**9,
            SUPPORT_CONVERSATIONS_PER_HOUR=0,
        ) as service:
            timings: list[float] = []
            for i in range(turns + warmup):
                conversation = await service.new_conversation(CUSTOMER)
                start = time.perf_counter()
                answer = await service.say(CUSTOMER, conversation, "Where is my order #W2611340?")
                elapsed = (time.perf_counter() - start) * 1000
                assert answer.json()["run"]["status"] == "completed", answer.text
                if telemetry is not None:
                    assert answer.json()["run"]["trace_id"], "tracing is on, so the run has a trace"
                if i >= warmup:
                    timings.append(elapsed)
    return sorted(timings)


async def count_statements(url: str) -> tuple[StatementCount, StatementCount, list[str]]:
    """Database work of `COUNTED_TURNS` read-only tool turns (after two uncounted ones), each the first message of
    a conversation of its own, and of the same number of second messages (which also read the history); returns
    both totals and one first turn's statements."""
    async with running_service(
        url,
        read_only_turns(2 * (COUNTED_TURNS + 2)),
        SUPPORT_CHAT_PER_MINUTE=10**9,
        SUPPORT_CONVERSATIONS_PER_HOUR=0,
        **QUIET,
    ) as service:
        engine = service.services.database.engine.sync_engine
        first, later = StatementCount(), StatementCount()
        one_turn: list[str] = []
        for i in range(COUNTED_TURNS + 2):
            conversation = await service.new_conversation(CUSTOMER)
            for total in (first, later):
                with counting(engine) as count:
                    answer = await service.say(CUSTOMER, conversation, "Where is my order #W2611340?")
                assert answer.json()["run"]["status"] == "completed", answer.text
                if i >= 2:
                    total.statements += count.statements
                    total.commits += count.commits
                    total.transactions += count.transactions
                    total.rows += count.rows
                    if total is first:
                        one_turn = list(count.texts)
    return first, later, one_turn


def report_statements(name: str, total: StatementCount, which: str) -> tuple[float, float]:
    per = COUNTED_TURNS
    statements, commits = total.statements / per, total.commits / per
    print(
        f"  {name:10} {statements:5.1f} statements  {commits:4.1f} commits  {total.transactions / per:4.1f} "
        f"transactions  {total.rows / per:5.1f} rows returned  per read-only tool turn ({which})"
    )
    return statements, commits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=300)
    parser.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL statement count")
    parser.add_argument("--show", action="store_true", help="print one turn's statements")
    args = parser.parse_args()
    timings = asyncio.run(run(args.turns))
    print(f"turn overhead (3 tool calls, scripted model, SQLite), {len(timings)} turns")
    print(
        f"  median {statistics.median(timings):.2f} ms   p99 {timings[int(len(timings) * 0.99) - 1]:.2f} ms   "
        "(target: median <= 10 ms)"
    )
    print(f"database work per turn (1 read-only tool call, {COUNTED_TURNS} turns)")
    with tempfile.TemporaryDirectory() as directory:
        sqlite_first, sqlite_later, texts = asyncio.run(
            count_statements(f"sqlite:///{Path(directory) / 'count.sqlite3'}")
        )
    report_statements("SQLite", sqlite_first, "first message")
    report_statements("SQLite", sqlite_later, "second message")
    if args.no_postgres:
        return
    with empty_postgres("bench_turn") as url:
        pg_first, pg_later, texts = asyncio.run(count_statements(url))
    first = report_statements("PostgreSQL", pg_first, "first message")
    later = report_statements("PostgreSQL", pg_later, "second message")
    if args.show:
        print("\n".join(f"    {text}" for text in texts))
    print(f"  targets on PostgreSQL: <= {MAX_STATEMENTS} statements, <= {MAX_COMMITS} commits (every turn)")
    if any(statements > MAX_STATEMENTS or commits > MAX_COMMITS for statements, commits in (first, later)):
        sys.exit("turn_overhead: PostgreSQL statements or commits per turn above the targets")


if __name__ == "__main__":
    main()
