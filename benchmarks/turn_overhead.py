"""Service overhead of one chat turn: HTTP request -> run -> 3 tool calls -> reply, with a scripted model that
answers instantly (so model time is excluded). SQLite, in-process ASGI.

    python benchmarks/turn_overhead.py [--turns 300]

Target: median <= 10 ms.
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
from agent.telemetry import Telemetry
from tests.support.service import running_service

CUSTOMER = "james_li_5688"
WARMUP = 20
"""Turns run before timing starts (imports, caches, the database's first pages)."""


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
            url, script(turns + warmup), telemetry=telemetry, SUPPORT_CHAT_PER_MINUTE=10**9
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=300)
    timings = asyncio.run(run(parser.parse_args().turns))
    print(f"turn overhead (3 tool calls, scripted model, SQLite), {len(timings)} turns")
    print(
        f"  median {statistics.median(timings):.2f} ms   p99 {timings[int(len(timings) * 0.99) - 1]:.2f} ms   "
        "(target: median <= 10 ms)"
    )


if __name__ == "__main__":
    main()
