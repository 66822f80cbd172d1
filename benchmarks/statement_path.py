"""What one statement costs the service's process on each of its two PostgreSQL paths: through SQLAlchemy's engine
(pool checkout with the AUTOCOMMIT isolation set and reset, compiled-cache lookup, greenlet, result wrapping), as
every session's statement goes, and on the direct path (`basics.driver_statements`), as a turn's hot statements go.

The same statement (eight typed parameters, one row back) runs N times each way, in alternating blocks, on a
fresh PostgreSQL database; it prints the client CPU per statement (`time.process_time`, this process only: the
database's own work is the same both ways) for each block and the medians.

    python benchmarks/statement_path.py [--statements 2000] [--blocks 4]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import text

from basics.database import Database
from testkit.databases import empty_postgres

STATEMENT = text(
    "SELECT CAST(:a AS varchar), CAST(:b AS timestamptz), CAST(:c AS jsonb), CAST(:d AS int), "
    "CAST(:e AS varchar), CAST(:f AS varchar), CAST(:g AS int), CAST(:h AS varchar)"
)


def values(i: int) -> dict[str, Any]:
    return {
        "a": f"conv_{i}",
        "b": datetime.now(UTC),
        "c": json.dumps({"items": [1, 2, 3], "i": i}),
        "d": i,
        "e": "customer",
        "f": "running",
        "g": 5,
        "h": "claude",
    }


async def through_engine(database: Database, count: int) -> float:
    started = time.process_time()
    for i in range(count):
        async with database.session(readonly=True) as session:
            (await session.exec(STATEMENT, params=values(i))).all()  # type: ignore[call-overload]
    return (time.process_time() - started) / count


async def direct(database: Database, count: int) -> float:
    assert database.direct is not None
    compiled = database.direct.compiled(STATEMENT)
    assert compiled is not None
    started = time.process_time()
    for i in range(count):
        await database.direct.rows(compiled, values(i))
    return (time.process_time() - started) / count


async def measure(url: str, count: int, blocks: int) -> None:
    database = Database(url)
    try:
        await through_engine(database, 100)  # warm-up: connections, prepared statements, caches
        await direct(database, 100)
        engine_s, direct_s = [], []
        for block in range(blocks):
            engine_s.append(await through_engine(database, count))
            direct_s.append(await direct(database, count))
            print(f"  block {block + 1}: engine {engine_s[-1] * 1e6:6.0f} us   direct {direct_s[-1] * 1e6:6.0f} us")
        engine_m, direct_m = statistics.median(engine_s), statistics.median(direct_s)
        print(
            f"client CPU per statement, medians of {blocks} blocks of {count}: engine {engine_m * 1e6:.0f} us, "
            f"direct {direct_m * 1e6:.0f} us (x{direct_m / engine_m:.2f})"
        )
    finally:
        await database.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--statements", type=int, default=2000)
    parser.add_argument("--blocks", type=int, default=4)
    args = parser.parse_args()
    with empty_postgres("bench_statement") as url:
        asyncio.run(measure(url, args.statements, args.blocks))


if __name__ == "__main__":
    main()
