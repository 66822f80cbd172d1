"""OpenTelemetry set-up from the standard `OTEL_*` variables. Nothing is exported unless an OTLP endpoint is set.

    OTEL_EXPORTER_OTLP_ENDPOINT            e.g. http://jaeger:4318 (OTLP over HTTP, protobuf)
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT     the traces endpoint alone, if it differs
    OTEL_SERVICE_NAME                      default "support-agent"
    OTEL_TRACES_SAMPLER[_ARG]              read by the SDK (default: parentbased_always_on)
    OTEL_SDK_DISABLED=true                 switch everything off
    OTEL_METRICS_EXPORTER=none             traces only (e.g. straight into Jaeger, which takes no metrics)
    OTEL_METRICS_EXEMPLAR_FILTER           default here "always_off" (see `service_meter_provider`)
    OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true   record (masked) message content on spans
    SUPPORT_METRICS=true                   also serve the metrics for Prometheus at /metrics (OTLP not needed)

Only the http/protobuf protocol is built in; another `OTEL_EXPORTER_OTLP_PROTOCOL` is reported and ignored.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass

from opentelemetry import metrics, trace
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.environment_variables import OTEL_METRICS_EXEMPLAR_FILTER
from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter, MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from prometheus_client import CollectorRegistry

from api.ops.otlp_spans import OtlpSpanExporter

log = logging.getLogger(__name__)
DEFAULT_SERVICE_NAME = "support-agent"


@dataclass
class Observability:
    tracer_provider: TracerProvider | None = None
    meter_provider: MeterProvider | None = None
    prometheus: CollectorRegistry | None = None
    """Where the metrics are kept for `/metrics` to serve, when SUPPORT_METRICS is on."""

    @property
    def enabled(self) -> bool:
        return self.tracer_provider is not None

    def shutdown(self) -> None:
        """Flush what is buffered; called on the way out so the last runs' spans are not lost."""
        if self.tracer_provider is not None:
            self.tracer_provider.shutdown()
        if self.meter_provider is not None:
            self.meter_provider.shutdown()


def exporting_configured() -> bool:
    if os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    return bool(os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


def metrics_wanted() -> bool:
    """Metrics go out only to an endpoint that takes them (Jaeger, for one, takes traces only)."""
    if os.environ.get("OTEL_METRICS_EXPORTER", "otlp").strip().lower() == "none":
        return False
    return bool(os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"))


_configured: Observability | None = None


def configure_from_env(*, prometheus: bool = False) -> Observability:
    """Build and register the global providers once per process; a second call returns the first result.
    With `prometheus`, the metrics are also kept for scraping at `/metrics`, whether or not OTLP is configured."""
    global _configured
    if _configured is not None:
        return _configured
    exporting = exporting_configured()
    if not exporting and not prometheus:
        _configured = Observability()
        return _configured
    resource = service_resource()
    readers: list[MetricReader] = []
    if exporting and metrics_wanted():
        readers.append(otlp_metric_reader())
    scraped = CollectorRegistry() if prometheus else None
    if scraped is not None:
        readers.append(PrometheusMetricReader(registry=scraped))
    meter_provider = service_meter_provider(resource, readers)
    metrics.set_meter_provider(meter_provider)
    tracer_provider = None
    if exporting:
        protocol = os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
        if protocol != "http/protobuf":
            log.warning("OTEL_EXPORTER_OTLP_PROTOCOL=%s is not supported here; exporting with http/protobuf", protocol)
        tracer_provider = otlp_tracer_provider(resource)
        trace.set_tracer_provider(tracer_provider)
        log.info("exporting traces and metrics over OTLP/HTTP as %s", resource.attributes.get("service.name"))
    _configured = Observability(tracer_provider, meter_provider, scraped)
    return _configured


def service_resource() -> Resource:
    return Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", DEFAULT_SERVICE_NAME)})


def service_meter_provider(resource: Resource, readers: Sequence[MetricReader]) -> MeterProvider:
    """The metrics' provider, without exemplars unless OTEL_METRICS_EXEMPLAR_FILTER asks for them. The SDK's
    default (`trace_based`) offers every measurement taken inside a sampled span to a reservoir, about as much CPU
    again as the measurement itself, some twenty times a traced turn; nothing here reads exemplars (Prometheus's
    exposition leaves them out, Jaeger takes no metrics)."""
    exemplars = os.environ.get(OTEL_METRICS_EXEMPLAR_FILTER, "").strip().lower()
    chosen = None if exemplars else AlwaysOffExemplarFilter()  # None: the SDK reads the variable itself
    return MeterProvider(resource=resource, metric_readers=readers, exemplar_filter=chosen)


def otlp_tracer_provider(resource: Resource, endpoint: str | None = None) -> TracerProvider:
    """Spans batched in a background thread, encoded cheaply (`api.ops.otlp_spans`) and sent over OTLP/HTTP: to
    `endpoint` (a base URL such as http://jaeger:4318) if given, else where the `OTEL_*` variables say. Not
    registered globally: the caller decides (`configure_from_env` does; `benchmarks/tracing_overhead.py` builds
    one beside an untraced service)."""
    provider = TracerProvider(resource=resource)
    exporter = OtlpSpanExporter(endpoint=f"{endpoint}/v1/traces" if endpoint else None)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def otlp_metric_reader(endpoint: str | None = None) -> MetricReader:
    """The metrics, collected periodically (OTEL_METRIC_EXPORT_INTERVAL) and sent over OTLP/HTTP, like the spans."""
    return PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=f"{endpoint}/v1/metrics" if endpoint else None))
