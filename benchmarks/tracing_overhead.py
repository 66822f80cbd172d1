"""What tracing costs per chat turn: the turn of `turn_overhead.py` (HTTP request -> run -> 3 tool calls -> reply,
scripted model, SQLite, in-process ASGI), on two services built side by side in this process, one untraced and one
traced, driven alternately in blocks so that both see the same machine (other processes, CPU frequency, a
database file growing) at the same time.

Off is the service with no OTLP endpoint: no providers registered, no FastAPI or httpx instrumentation.
On is what the service does with an endpoint set: the FastAPI instrumentation (server span and HTTP metrics), the
run, chat and execute_tool spans and the metrics, through the service's own OTLP/HTTP exporters
(`api.ops.observability`: a BatchSpanProcessor and a periodic metric reader with their default settings, the
meter provider the service builds), sending
to a collector stand-in in another process (`benchmarks/otlp_sink.py`) that decodes and counts what arrives.

    python benchmarks/tracing_overhead.py [--turns 300] [--rounds 10]

Each round prints both sides' median turn and CPU per turn. The CPU is this process's, every thread included, and
each traced block ends by flushing its spans, so the export's encoding and posting are counted with the turns that
made them; a median turn alone would not show them (they happen in a background thread, once per 512 spans).

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
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from opentelemetry import trace

from agent.telemetry.recorder import Telemetry
from api.ops.observability import otlp_metric_reader, otlp_tracer_provider, service_meter_provider, service_resource
from benchmarks.otlp_sink import OtlpSink
from benchmarks.turn_overhead import CUSTOMER, WARMUP, script
from testkit.service import ServiceClient, running_service

TARGET_RATIO = 1.05
QUESTION = "Where is my order #W2611340?"


@dataclass
class Side:
    """One of the two services, the turns timed on it and the CPU its blocks took."""

    name: str
    service: ServiceClient
    flush: Callable[[], object] | None = None
    """Traced: hands what the batch processor holds to the exporter, so that a block pays for its own export."""
    timings: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    """Per block: this process's CPU time (every thread, the exporter's included) per turn, in ms."""

    async def turns(self, count: int) -> tuple[float, float]:
        """`count` turns, each in a new conversation; the median turn (the message only, as in `turn_overhead.py`)
        and the CPU per turn (the conversation's creation included), in ms."""
        block = []
        cpu_start = time.process_time()
        for _ in range(count):
            conversation = await self.service.new_conversation(CUSTOMER)
            start = time.perf_counter()
            answer = await self.service.say(CUSTOMER, conversation, QUESTION)
            block.append((time.perf_counter() - start) * 1000)
            run = answer.json()["run"]
            assert run["status"] == "completed", answer.text
            traced = self.flush is not None
            assert bool(run["trace_id"]) == traced, f"tracing {self.name}, yet trace id {run['trace_id']!r}"
        if self.flush is not None:
            self.flush()
        cpu = (time.process_time() - cpu_start) * 1000 / count
        self.timings += block
        self.cpu.append(cpu)
        return statistics.median(block), cpu


def p99(timings: list[float]) -> float:
    ordered = sorted(timings)
    return ordered[max(int(len(ordered) * 0.99) - 1, 0)]


async def interleaved(telemetry: Telemetry, flush: Callable[[], object], rounds: int, block: int) -> tuple[Side, Side]:
    """Both services up at once; each round runs a block on each, the order alternating between rounds."""
    settings: dict[str, Any] = {"SUPPORT_CHAT_PER_MINUTE": 10**9, "SUPPORT_CONVERSATIONS_PER_HOUR": 0}  # not the limits
    turns = WARMUP + rounds * block
    with tempfile.TemporaryDirectory() as directory:
        async with AsyncExitStack() as stack:
            untraced = running_service(f"sqlite:///{Path(directory) / 'off.sqlite3'}", script(turns), **settings)
            traced = running_service(
                f"sqlite:///{Path(directory) / 'on.sqlite3'}", script(turns), telemetry=telemetry, **settings
            )
            off = Side("off", await stack.enter_async_context(untraced))
            on = Side("on", await stack.enter_async_context(traced), flush=flush)
            for side in (off, on):  # imports, caches, the database's first pages; not kept
                await side.turns(WARMUP)
                side.timings.clear()
                side.cpu.clear()
            print(f"{'round':>7} {'median off':>11} {'on':>9} {'on/off':>7}", end="   ")
            print(f"{'CPU/turn off':>13} {'on':>9} {'on/off':>7}")
            for number in range(rounds):
                order = (off, on) if number % 2 == 0 else (on, off)
                measured = {side.name: await side.turns(block) for side in order}
                (off_median, off_cpu), (on_median, on_cpu) = measured["off"], measured["on"]
                print(
                    f"{number + 1:>7} {off_median:8.2f} ms {on_median:6.2f} ms {on_median / off_median:7.3f}   "
                    f"{off_cpu:10.2f} ms {on_cpu:6.2f} ms {on_cpu / off_cpu:7.3f}"
                )
    return off, on


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=300, help="timed turns per service (default 300)")
    parser.add_argument("--rounds", type=int, default=10, help="blocks per service, alternating (default 10)")
    args = parser.parse_args()
    block = max(args.turns // args.rounds, 1)
    # "Off" must mean off: nothing configured from the environment behind our back, no global providers.
    for name in [n for n in os.environ if n.startswith("OTEL_")]:
        del os.environ[name]
    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)

    with OtlpSink() as sink:
        tracer_provider = otlp_tracer_provider(service_resource(), sink.endpoint)
        meter_provider = service_meter_provider(service_resource(), [otlp_metric_reader(sink.endpoint)])
        print(
            f"turn overhead with tracing off and on, interleaved (3 tool calls, scripted model, SQLite), "
            f"{args.rounds} rounds of {block} turns each; spans and metrics to {sink.endpoint}"
        )
        telemetry = Telemetry(tracer_provider, meter_provider)
        off, on = asyncio.run(interleaved(telemetry, tracer_provider.force_flush, args.rounds, block))
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
    cpu_ratio = sum(on.cpu) / sum(off.cpu)
    print(
        f"  CPU per turn (every thread, the export included) off {statistics.mean(off.cpu):.2f} ms, "
        f"on {statistics.mean(on.cpu):.2f} ms: on/off {cpu_ratio:.3f}"
    )
    sent = WARMUP + args.rounds * block
    print(
        f"  the sink received {counts.get('spans', 0)} spans in {counts.get('trace_exports', 0)} exports "
        f"({counts.get('spans', 0) / sent:.1f} per turn, its conversation's creation included), "
        f"{counts.get('metric_points', 0)} metric points in {counts.get('metric_exports', 0)} exports"
    )


if __name__ == "__main__":
    main()
