"""Latency of a keyword search over the whole help centre, on SQLite and on PostgreSQL.

    python benchmarks/kb_search.py [--iterations 2000] [--postgres postgresql://postgres@127.0.0.1:5432/test]

Each iteration searches one of the labelled customer questions (in turn) the way `search_help_centre` does:
the in-process BM25 ranking (its index built once per knowledge-base version, before timing starts), then
the whole search with the load of the top passages with their articles. The PostgreSQL run uses a scratch
database it creates and drops. Target: p95 < 20 ms on both.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

import api.all_tables  # noqa: F401 - every table on the metadata
from api.services import prepare_database
from basics.database import Database
from tools.knowledge.evaluation import load_questions
from tools.knowledge.importer import DEFAULT_DIRECTORY
from tools.knowledge.search import HelpCentre

WARM_UP = 100


def percentile(sorted_ms: list[float], fraction: float) -> float:
    return sorted_ms[min(len(sorted_ms) - 1, int(len(sorted_ms) * fraction))]


async def measure(url: str, label: str, iterations: int) -> None:
    database = Database(url)
    try:
        await prepare_database(database, seed=True)
        questions = [q.question for q in load_questions(DEFAULT_DIRECTORY / "questions.yaml")]
        centre = HelpCentre()
        index_ms: list[float] = []
        search_ms: list[float] = []
        async with database.session(readonly=True) as session:
            state = await centre.state(session)
            index = await centre.keywords.index(session, state.version if state else None)
            for i in range(iterations + WARM_UP):
                query = questions[i % len(questions)]
                start = time.perf_counter()
                index.search(query, 20)
                middle = time.perf_counter()
                result = await centre.search(session, query)
                end = time.perf_counter()
                assert result.mode == "keyword"
                if i >= WARM_UP:
                    index_ms.append((middle - start) * 1000)
                    search_ms.append((end - middle) * 1000)
    finally:
        await database.dispose()
    print(f"{label}: {iterations} searches over {len(questions)} questions")
    for name, timings in (("BM25 ranking", index_ms), ("search + passages", search_ms)):
        timings.sort()
        print(
            f"  {name:<18} median {statistics.median(timings):6.2f} ms   p95 {percentile(timings, 0.95):6.2f} ms   "
            f"p99 {percentile(timings, 0.99):6.2f} ms   (target: p95 < 20 ms)"
        )


async def run(iterations: int, postgres_admin: str) -> None:
    with tempfile.TemporaryDirectory() as directory:
        await measure(f"sqlite:///{Path(directory) / 'bench.sqlite3'}", "SQLite", iterations)
    name = f"kb_bench_{uuid.uuid4().hex[:8]}"
    try:
        with psycopg.connect(postgres_admin, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        print(f"PostgreSQL: not measured ({postgres_admin} unreachable: {exc})")
        return
    try:
        url = make_url(postgres_admin).set(database=name).render_as_string(hide_password=False)
        await measure(url, "PostgreSQL", iterations)
    finally:
        with psycopg.connect(postgres_admin, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument(
        "--postgres",
        default=os.environ.get("SUPPORT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"),
        help="an admin URL of a PostgreSQL server to create the scratch database on",
    )
    args = parser.parse_args()
    asyncio.run(run(args.iterations, args.postgres))


if __name__ == "__main__":
    main()
