"""What tracing costs per chat turn: the turn of `turn_overhead.py` (HTTP request -> run -> 3 tool calls -> reply,
scripted model, SQLite, in-process ASGI), measured with tracing off and then on.

On means what the service does with an OTLP endpoint set: the FastAPI instrumentation, the run, chat and
execute_tool spans, and the metrics, through a BatchSpanProcessor and a periodic metric reader. The exporters
throw everything away, so span creation and processing are measured and the network is not.

    python benchmarks/tracing_overhead.py [--turns 300]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    MetricExporter,
    MetricExportResult,
    MetricsData,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from agent.telemetry.recorder import Telemetry
from benchmarks.turn_overhead import WARMUP, run


class DiscardSpans(SpanExporter):
    """Accepts every batch and keeps nothing."""

    def __init__(self) -> None:
        self.spans = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.spans += len(spans)
        return SpanExportResult.SUCCESS


class DiscardMetrics(MetricExporter):
    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: object) -> MetricExportResult:
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: object) -> None:
        return None


def p99(timings: list[float]) -> float:
    return timings[max(int(len(timings) * 0.99) - 1, 0)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=300)
    turns = parser.parse_args().turns
    # "Off" must mean off: no exporters configured from the environment behind our back.
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        os.environ.pop(name, None)

    off = asyncio.run(run(turns, None))

    spans = DiscardSpans()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(spans))
    meter_provider = MeterProvider(metric_readers=[PeriodicExportingMetricReader(DiscardMetrics())])
    on = asyncio.run(run(turns, Telemetry(tracer_provider, meter_provider)))
    tracer_provider.shutdown()
    meter_provider.shutdown()

    print(f"turn overhead with tracing off and on (3 tool calls, scripted model, SQLite), {turns} turns each")
    for label, timings in (("off", off), ("on ", on)):
        print(f"  tracing {label}  median {statistics.median(timings):6.2f} ms   p99 {p99(timings):6.2f} ms")
    print(f"  on/off median ratio {statistics.median(on) / statistics.median(off):.2f}")
    print(f"  spans processed with tracing on: {spans.spans} ({spans.spans / (turns + WARMUP):.1f} per turn)")


if __name__ == "__main__":
    main()
