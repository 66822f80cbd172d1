"""What tracing costs per chat turn: the turn of `turn_overhead.py` (HTTP request -> run -> 3 tool calls -> reply,
scripted model, SQLite, in-process ASGI), on two services built side by side in this process, one untraced and one
traced, driven alternately in blocks so that both see the same machine (other processes, CPU frequency, a
database file growing) at the same time.

Off is the service with no OTLP endpoint: no providers registered, no FastAPI or httpx instrumentation.
On is what the service does with an endpoint set: the FastAPI instrumentation (server span and HTTP metrics), the
run, chat and execute_tool spans and the metrics, through the service's own OTLP/HTTP exporters
(`api.ops.observability`: a BatchSpanProcessor and a periodic metric reader with their default settings), sending
to a collector stand-in in another process (`benchmarks/otlp_sink.py`) that decodes and counts what arrives.

    python benchmarks/tracing_overhead.py [--turns 300] [--rounds 6]

Target: the traced turn's median at most 1.05x the untraced one's.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider

from agent.telemetry.recorder import Telemetry
from api.ops.observability import otlp_metric_reader, otlp_tracer_provider, service_resource
from benchmarks.otlp_sink import OtlpSink
from benchmarks.turn_overhead import CUSTOMER, WARMUP, script
from testkit.service import ServiceClient, running_service

TARGET_RATIO = 1.05
QUESTION = "Where is my order #W2611340?"


@dataclass
class Side:
    """One of the two services and the turns timed on it."""

    name: str
    service: ServiceClient
    traced: bool
    timings: list[float] = field(default_factory=list)

    async def turns(self, count: int) -> list[float]:
        """`count` turns, each in a new conversation; their durations in ms (the message only, as in
        `turn_overhead.py`)."""
        block = []
        for _ in range(count):
            conversation = await self.service.new_conversation(CUSTOMER)
            start = time.perf_counter()
            answer = await self.service.say(CUSTOMER, conversation, QUESTION)
            block.append((time.perf_counter() - start) * 1000)
            run = answer.json()["run"]
            assert run["status"] == "completed", answer.text
            assert bool(run["trace_id"]) == self.traced, f"tracing {self.name}, yet trace id {run['trace_id']!r}"
        self.timings += block
        return block


def p99(timings: list[float]) -> float:
    ordered = sorted(timings)
    return ordered[max(int(len(ordered) * 0.99) - 1, 0)]


async def interleaved(telemetry: Telemetry, rounds: int, block: int) -> tuple[Side, Side]:
    """Both services up at once; each round runs a block on each, the order alternating between rounds."""
    settings: dict[str, Any] = {"SUPPORT_CHAT_PER_MINUTE": 10**9, "SUPPORT_CONVERSATIONS_PER_HOUR": 0}  # a turn, not the limits
    turns = WARMUP + rounds * block
    with tempfile.TemporaryDirectory() as directory:
        async with AsyncExitStack() as stack:
            off = Side(
                "off",
                await stack.enter_async_context(
                    running_service(f"sqlite:///{Path(directory) / 'off.sqlite3'}", script(turns), **settings)
                ),
                traced=False,
            )
            on = Side(
                "on",
                await stack.enter_async_context(
                    running_service(
                        f"sqlite:///{Path(directory) / 'on.sqlite3'}", script(turns), telemetry=telemetry, **settings
                    )
                ),
                traced=True,
            )
            for side in (off, on):  # imports, caches, the database's first pages; not kept
                await side.turns(WARMUP)
                side.timings.clear()
            print(f"{'round':>7} {'off median':>11} {'on median':>10} {'on/off':>7}")
            for number in range(rounds):
                order = (off, on) if number % 2 == 0 else (on, off)
                medians = {side.name: statistics.median(await side.turns(block)) for side in order}
                print(
                    f"{number + 1:>7} {medians['off']:8.2f} ms {medians['on']:7.2f} ms "
                    f"{medians['on'] / medians['off']:7.3f}"
                )
    return off, on


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=300, help="timed turns per service (default 300)")
    parser.add_argument("--rounds", type=int, default=6, help="blocks per service, alternating (default 6)")
    args = parser.parse_args()
    block = max(args.turns // args.rounds, 1)
    # "Off" must mean off: nothing configured from the environment behind our back, no global providers.
    for name in [n for n in os.environ if n.startswith("OTEL_")]:
        del os.environ[name]
    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)

    with OtlpSink() as sink:
        tracer_provider = otlp_tracer_provider(service_resource(), sink.endpoint)
        meter_provider = MeterProvider(resource=service_resource(), metric_readers=[otlp_metric_reader(sink.endpoint)])
        print(
            f"turn overhead with tracing off and on, interleaved (3 tool calls, scripted model, SQLite), "
            f"{args.rounds} rounds of {block} turns each; spans and metrics to {sink.endpoint}"
        )
        off, on = asyncio.run(interleaved(Telemetry(tracer_provider, meter_provider), args.rounds, block))
        tracer_provider.force_flush()
        meter_provider.force_flush()
        counts = sink.counts()
        tracer_provider.shutdown()
        meter_provider.shutdown()
    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider), "the untraced side stayed untraced"

    for side in (off, on):
        print(
            f"  tracing {side.name:3}  median {statistics.median(side.timings):6.2f} ms   "
            f"p99 {p99(side.timings):6.2f} ms   ({len(side.timings)} turns)"
        )
    ratio = statistics.median(on.timings) / statistics.median(off.timings)
    print(f"  on/off median ratio {ratio:.3f}   (target <= {TARGET_RATIO})")
    sent = WARMUP + args.rounds * block
    print(
        f"  the sink received {counts.get('spans', 0)} spans in {counts.get('trace_exports', 0)} exports "
        f"({counts.get('spans', 0) / sent:.1f} per turn, its conversation's creation included), "
        f"{counts.get('metric_points', 0)} metric points in {counts.get('metric_exports', 0)} exports"
    )


if __name__ == "__main__":
    main()
