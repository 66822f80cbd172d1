"""Median time of one policy evaluation plus one read tool, on a seeded SQLite store.

    python benchmarks/policy_read.py [--iterations 2000]

This is the per-call overhead the service adds around a model's tool call: decide (and store the decision),
then run the read. Target: median <= 1 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import api.all_tables  # noqa: F401 - every table on the metadata
from api.services import prepare_database
from basics.database import Database
from basics.principal import Principal
from policies.config import load_policy
from policies.engine import PolicyEngine
from tools import registry
from tools.call import ToolCall
from tools.context import ToolContext
from tools.executor import execute


async def run(iterations: int) -> None:
    with tempfile.TemporaryDirectory() as directory:
        database = Database(f"sqlite:///{Path(directory) / 'bench.sqlite3'}")
        await prepare_database(database, seed=True)
        engine = PolicyEngine(load_policy(), registry)
        principal = Principal.customer("james_li_5688")
        call = ToolCall("get_order_details", {"order_id": "#W2611340"}, id="bench")
        spec = registry.get(call.name)
        timings: list[float] = []
        async with database.session() as session:
            for i in range(iterations + 100):
                start = time.perf_counter()
                decision = await engine.evaluate(call, principal, session)
                assert decision.allowed
                result = await execute(spec, ToolContext(principal, session), spec.parse(call.arguments))
                assert result.ok
                if i >= 100:  # warm-up excluded
                    timings.append((time.perf_counter() - start) * 1000)
        await database.dispose()
    timings.sort()
    print(f"policy evaluation + get_order_details on SQLite, {iterations} iterations")
    print(
        f"  median {statistics.median(timings):.3f} ms   p90 {timings[int(len(timings) * 0.9)]:.3f} ms   "
        f"p99 {timings[int(len(timings) * 0.99)]:.3f} ms   (target: median <= 1 ms)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=2000)
    asyncio.run(run(parser.parse_args().iterations))


if __name__ == "__main__":
    main()
