"""How long the store's figures take on PostgreSQL with a busy history, and the plans of their queries.

    python benchmarks/insights_query.py [--runs 200000] [--days 60] [--repeat 5]
                                        [--postgres postgresql://postgres@127.0.0.1:5432/test]

A scratch database (created and dropped) gets `--runs` runs spread over `--days` days, one conversation per three
runs, a step per run, a flag on one run in twenty and a verdict on one in ten, then `agent.quality.insights`
computes the default ranges (7 days, 24 hours) `--repeat` times. It prints the median and slowest time, and
EXPLAIN of the per-run query: it should read `runs` through `ix_runs_started`, the week only, not the whole table.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid
from datetime import UTC, datetime

import psycopg
from sqlalchemy import bindparam, text
from sqlalchemy.engine import make_url

import api.all_tables  # noqa: F401 - every table on the metadata
from agent.quality import insights
from api.services import prepare_database
from basics.database import Database
from tools.store.tables import UTCDateTime

SEED = """
INSERT INTO conversations (id, customer_id, created_at)
SELECT 'bc_' || c, 'james_li_5688', now() - (c * interval '1 second') FROM generate_series(1, %(conversations)s) c;
INSERT INTO runs (id, conversation_id, customer_id, status, model_provider, model_name, started_at, finished_at,
                  model_calls, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cost_micro_usd,
                  transcript, reserved_micro_usd, fallback_reason)
SELECT 'br_' || r, 'bc_' || (1 + r / 3), 'james_li_5688',
       (ARRAY['completed', 'completed', 'completed', 'completed', 'handed_off', 'failed',
              'awaiting_confirmation'])[1 + r %% 7],
       'anthropic', 'claude-sonnet-4-6', at, at + ((r %% 4000) * interval '1 millisecond'),
       2, 1000, 200, 0, 0, 1000 + r %% 5000, '[]', 0, CASE WHEN r %% 50 = 0 THEN 'model_overloaded' END
FROM (SELECT r, now() - (random() * %(days)s * interval '1 day') AS at FROM generate_series(1, %(runs)s) r) s;
INSERT INTO steps (run_id, position, kind, created_at, latency_ms, input_tokens, output_tokens, cache_read_tokens,
                   cache_write_tokens, cost_micro_usd, is_error, tool)
SELECT id, 0, 'tool', started_at, 1.0, 0, 0, 0, 0, 0, false,
       (ARRAY['get_order_details', 'cancel_pending_order', 'search_help_centre'])[1 + length(id) %% 3]
FROM runs WHERE id LIKE 'br_%%';
INSERT INTO run_flags (run_id, conversation_id, kind, value, created_at)
SELECT id, conversation_id, 'ungrounded_amount', '$1.00', started_at FROM runs WHERE id LIKE 'br_%%0';
INSERT INTO feedback (run_id, conversation_id, customer_id, helpful, model_name, created_at)
SELECT id, conversation_id, customer_id, random() < 0.8, model_name, started_at FROM runs WHERE id LIKE 'br_%%5';
"""


async def measure(url: str, repeat: int) -> None:
    database = Database(url)
    try:
        times = []
        for _ in range(repeat):
            began = time.perf_counter()
            figures = await insights.compute(database)
            times.append((time.perf_counter() - began) * 1000)
        week = sum(b.runs for b in figures.days)
        print(
            f"insights (7 days, 24 hours) over {week} runs in the week: median {statistics.median(times):.1f} ms, "
            f"slowest {max(times):.1f} ms ({repeat} times)"
        )
        reader = insights._Reader(None, insights._Sql(False), figures.generated_at)
        origin = figures.days[0].start
        query = text("EXPLAIN " + reader._run_sql()).bindparams(
            bindparam("start", type_=UTCDateTime()), bindparam("end", type_=UTCDateTime())
        )
        params = {"start": origin, "end": datetime.now(UTC), "origin": origin.timestamp(), "width": 86400.0}
        async with database.engine.connect() as connection:
            plan = (await connection.execute(query, params)).scalars().all()
        print("plan of the per-run query:")
        print("\n".join(f"  {line}" for line in plan))
    finally:
        await database.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=200_000)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--postgres", default=os.environ.get("SUPPORT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
    )
    args = parser.parse_args()
    name = f"support_insights_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.postgres, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = make_url(args.postgres).set(database=name).render_as_string(hide_password=False)
    try:
        database = Database(url)
        asyncio.run(prepare_database(database, seed=True))
        asyncio.run(database.dispose())
        with psycopg.connect(make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)) as db:
            values = {"runs": args.runs, "days": args.days, "conversations": args.runs // 3 + 2}
            for statement in filter(str.strip, SEED.split(";\n")):
                db.execute(statement, values)
            db.commit()
        with psycopg.connect(
            make_url(url).set(drivername="postgresql").render_as_string(hide_password=False), autocommit=True
        ) as db:
            db.execute("ANALYZE")
        asyncio.run(measure(url, args.repeat))
    finally:
        with psycopg.connect(args.postgres, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
