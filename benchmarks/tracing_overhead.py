"""What tracing costs per chat turn: the turn of `turn_overhead.py` (HTTP request -> run -> 3 tool calls -> reply,
scripted model, SQLite, in-process ASGI), on two services built side by side in this process, one untraced and one
traced, driven turn by turn in alternation (off-on, then on-off) so that both see the same machine (other
processes, CPU frequency, a database file growing) at the same moments.

Both run with the garbage collector scheduled as `support serve` schedules it (`api.ops.serving`).
Off is the service with no OTLP endpoint: no providers registered, no FastAPI or httpx instrumentation.
On is what the service does with an endpoint set: the FastAPI instrumentation (server span and HTTP metrics), the
run, chat and execute_tool spans and the metrics, through the service's own OTLP/HTTP exporters
(`api.ops.observability`: a BatchSpanProcessor and a periodic metric reader with their default settings, the
meter provider the service builds), sending to a collector stand-in in another process (`benchmarks/otlp_sink.py`)
that decodes and counts what arrives.

    python benchmarks/tracing_overhead.py [--turns 300] [--rounds 6]

Each round prints both sides' median turn and CPU per turn. A turn's CPU is the event loop thread's while it ran
(the conversation's creation included); the traced side's also carries its share of what the exporters' threads
spent over the whole run (encoding and posting, once per 512 spans, and the metrics), read from /proc. A median
turn alone would not show the export: it happens in a background thread.

Target: the traced turn's median at most 1.05x the untraced one's.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import threading
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from opentelemetry import trace

from agent.telemetry.recorder import Telemetry
from api.ops.observability import otlp_metric_reader, otlp_tracer_provider, service_meter_provider, service_resource
from api.ops.serving import schedule_collector_for_serving
from benchmarks.otlp_sink import OtlpSink
from benchmarks.turn_overhead import CUSTOMER, WARMUP, script
from testkit.service import ServiceClient, running_service

TARGET_RATIO = 1.05
QUESTION = "Where is my order #W2611340?"
EXPORTER_THREADS = ("OtelBatchSpanRecordProcessor", "OtelPeriodicExportingMetricReader")
"""The SDK's names for the threads of the batch span processor and the periodic metric reader."""


@dataclass
class Side:
    """One of the two services, the turns timed on it and the event loop's CPU for each."""

    name: str
    service: ServiceClient
    traced: bool
    timings: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    async def turn(self) -> None:
        """One turn in a new conversation: its time (the message only, as in `turn_overhead.py`) and this thread's
        CPU (the conversation's creation included), in ms."""
        cpu_start = time.thread_time()
        conversation = await self.service.new_conversation(CUSTOMER)
        start = time.perf_counter()
        answer = await self.service.say(CUSTOMER, conversation, QUESTION)
        self.timings.append((time.perf_counter() - start) * 1000)
        self.cpu.append((time.thread_time() - cpu_start) * 1000)
        run = answer.json()["run"]
        assert run["status"] == "completed", answer.text
        assert bool(run["trace_id"]) == self.traced, f"tracing {self.name}, yet trace id {run['trace_id']!r}"


def exporter_cpu_ms() -> float:
    """CPU time the exporters' threads have used so far (user and system), from /proc; 0 where there is none."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for thread in threading.enumerate():
        if thread.name.startswith(EXPORTER_THREADS) and thread.native_id is not None:
            try:
                fields = Path(f"/proc/self/task/{thread.native_id}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) * 1000 / tick  # utime and stime, fields 14 and 15
    return total


def p99(timings: list[float]) -> float:
    ordered = sorted(timings)
    return ordered[max(int(len(ordered) * 0.99) - 1, 0)]


async def interleaved(telemetry: Telemetry, rounds: int, per_round: int) -> tuple[Side, Side, float]:
    """Both services up at once, turns alternating between them; also the exporters' threads' CPU when the timed
    turns started."""
    settings: dict[str, Any] = {"SUPPORT_CHAT_PER_MINUTE": 10**9, "SUPPORT_CONVERSATIONS_PER_HOUR": 0}  # not the limits
    turns = WARMUP + rounds * per_round
    with tempfile.TemporaryDirectory() as directory:
        async with AsyncExitStack() as stack:
            untraced = running_service(f"sqlite:///{Path(directory) / 'off.sqlite3'}", script(turns), **settings)
            traced = running_service(
                f"sqlite:///{Path(directory) / 'on.sqlite3'}", script(turns), telemetry=telemetry, **settings
            )
            off = Side("off", await stack.enter_async_context(untraced), traced=False)
            on = Side("on", await stack.enter_async_context(traced), traced=True)
            for _ in range(WARMUP):  # imports, caches, the database's first pages; not kept
                await off.turn()
                await on.turn()
            for side in (off, on):
                side.timings.clear()
                side.cpu.clear()
            exporters_before = exporter_cpu_ms()
            print(f"{'round':>7} {'median off':>11} {'on':>9} {'on/off':>7}", end="   ")
            print(f"{'CPU/turn off':>13} {'on':>9} {'on/off':>7}   (event loop thread only)")
            for number in range(rounds):
                for pair in range(per_round):
                    for side in (off, on) if pair % 2 == 0 else (on, off):
                        await side.turn()
                off_median, on_median = (statistics.median(s.timings[-per_round:]) for s in (off, on))
                off_cpu, on_cpu = (statistics.mean(s.cpu[-per_round:]) for s in (off, on))
                print(
                    f"{number + 1:>7} {off_median:8.2f} ms {on_median:6.2f} ms {on_median / off_median:7.3f}   "
                    f"{off_cpu:10.2f} ms {on_cpu:6.2f} ms {on_cpu / off_cpu:7.3f}"
                )
            return off, on, exporters_before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=300, help="timed turns per service (default 300)")
    parser.add_argument("--rounds", type=int, default=6, help="rounds the turns are printed in (default 6)")
    args = parser.parse_args()
    per_round = max(args.turns // args.rounds, 1)
    # "Off" must mean off: nothing configured from the environment behind our back, no global providers.
    for name in [n for n in os.environ if n.startswith("OTEL_")]:
        del os.environ[name]
    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
    # As `support serve` runs the app: with CPython's default schedule (a young-generation pass every 700 net
    # allocations) the collector's passes, not the tracing, would be much of what the traced turn's extra
    # allocations cost.
    schedule_collector_for_serving()

    with OtlpSink() as sink:
        tracer_provider = otlp_tracer_provider(service_resource(), sink.endpoint)
        meter_provider = service_meter_provider(service_resource(), [otlp_metric_reader(sink.endpoint)])
        print(
            f"turn overhead with tracing off and on, interleaved turn by turn (3 tool calls, scripted model, SQLite), "
            f"{args.rounds} rounds of {per_round} turns each; spans and metrics to {sink.endpoint}"
        )
        telemetry = Telemetry(tracer_provider, meter_provider)
        off, on, exporters_before = asyncio.run(interleaved(telemetry, args.rounds, per_round))
        flush_start = time.thread_time()  # the last spans' export and the metrics' are the timed turns' too
        tracer_provider.force_flush()
        meter_provider.force_flush()
        exporters_ms = exporter_cpu_ms() - exporters_before + (time.thread_time() - flush_start) * 1000
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
    off_cpu, on_loop_cpu = statistics.mean(off.cpu), statistics.mean(on.cpu)
    on_cpu = on_loop_cpu + exporters_ms / len(on.cpu)
    print(
        f"  CPU per turn: off {off_cpu:.2f} ms, on {on_cpu:.2f} ms ({on_loop_cpu:.2f} in the event loop, "
        f"{exporters_ms / len(on.cpu):.2f} in the exporters' threads): on/off {on_cpu / off_cpu:.3f}"
    )
    sent = WARMUP + len(on.timings)
    print(
        f"  the sink received {counts.get('spans', 0)} spans in {counts.get('trace_exports', 0)} exports "
        f"({counts.get('spans', 0) / sent:.1f} per turn, its conversation's creation included), "
        f"{counts.get('metric_points', 0)} metric points in {counts.get('metric_exports', 0)} exports"
    )


if __name__ == "__main__":
    main()
