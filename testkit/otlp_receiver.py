"""A stand-in for an OpenTelemetry collector: accepts OTLP over HTTP (protobuf) and keeps what it was sent.

    with OtlpReceiver() as receiver:
        ...  # point a process at receiver.endpoint
        receiver.wait_for(lambda r: any(s.name == "chat offline-intent-1" for s in r.spans), timeout_s=10)

Only POST /v1/traces and /v1/metrics are served. Bodies may be gzip-compressed. Each request is decoded, its spans
and metric names are stored, and the answer is 200 with an empty Export*ServiceResponse, as a collector would.
"""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan


@dataclass(frozen=True)
class ReceivedLink:
    trace_id: str
    span_id: str
    attributes: dict[str, Any]


@dataclass(frozen=True)
class ReceivedSpan:
    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    """Empty for a root span."""
    kind: str
    """INTERNAL, SERVER, CLIENT, PRODUCER, CONSUMER or UNSPECIFIED."""
    attributes: dict[str, Any]
    links: list[ReceivedLink]
    resource: dict[str, Any]
    scope: str


@dataclass
class Received:
    """Everything that arrived so far. Read it inside `wait_for`'s predicate or after `snapshot()`."""

    requests: list[str] = field(default_factory=list)
    """The path of every POST, in arrival order (including ones that could not be decoded)."""
    spans: list[ReceivedSpan] = field(default_factory=list)
    metric_names: set[str] = field(default_factory=set)
    metric_resources: list[dict[str, Any]] = field(default_factory=list)
    metric_points: int = 0

    def named(self, name: str) -> list[ReceivedSpan]:
        return [s for s in self.spans if s.name == name]

    def in_trace(self, trace_id: str) -> list[ReceivedSpan]:
        return [s for s in self.spans if s.trace_id == trace_id]


def any_value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return key_values(value.kvlist_value.values)
    return getattr(value, kind)


def key_values(pairs: Any) -> dict[str, Any]:
    return {pair.key: any_value(pair.value) for pair in pairs}


def _kind_name(kind: int) -> str:
    return str(ProtoSpan.SpanKind.Name(kind)).removeprefix("SPAN_KIND_")


def decode_spans(request: ExportTraceServiceRequest) -> list[ReceivedSpan]:
    spans = []
    for resource_spans in request.resource_spans:
        resource = key_values(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                spans.append(
                    ReceivedSpan(
                        name=span.name,
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_span_id=span.parent_span_id.hex(),
                        kind=_kind_name(span.kind),
                        attributes=key_values(span.attributes),
                        links=[
                            ReceivedLink(link.trace_id.hex(), link.span_id.hex(), key_values(link.attributes))
                            for link in span.links
                        ],
                        resource=resource,
                        scope=scope_spans.scope.name,
                    )
                )
    return spans


class OtlpReceiver:
    """An OTLP/HTTP endpoint on 127.0.0.1 and a free port, served from a background thread."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._received = Received()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        """The base URL, for OTEL_EXPORTER_OTLP_ENDPOINT (the exporters append /v1/traces and /v1/metrics)."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    # ---- lifecycle ----------------------------------------------------------------------------------------

    def start(self) -> OtlpReceiver:
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="otlp-receiver", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> OtlpReceiver:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    # ---- reading ------------------------------------------------------------------------------------------

    def snapshot(self) -> Received:
        """A copy of what arrived so far."""
        with self._condition:
            return Received(
                requests=list(self._received.requests),
                spans=list(self._received.spans),
                metric_names=set(self._received.metric_names),
                metric_resources=list(self._received.metric_resources),
                metric_points=self._received.metric_points,
            )

    def counts(self) -> dict[str, int]:
        """How much arrived: spans and metric points, and the exports that carried them."""
        received = self.snapshot()
        return {
            "spans": len(received.spans),
            "trace_exports": received.requests.count("/v1/traces"),
            "metric_points": received.metric_points,
            "metric_exports": received.requests.count("/v1/metrics"),
        }

    def wait_for(self, predicate: Callable[[Received], bool], timeout_s: float = 10.0) -> Received:
        """Block until `predicate(received)` holds, re-checking each time a request arrives; the snapshot that
        satisfied it is returned. Raises TimeoutError with a summary of what did arrive otherwise."""
        with self._condition:
            satisfied = self._condition.wait_for(lambda: predicate(self._received), timeout=timeout_s)
        received = self.snapshot()
        if not satisfied:
            names = sorted({s.name for s in received.spans})
            raise TimeoutError(
                f"not received within {timeout_s} s; {len(received.requests)} requests, spans {names}, "
                f"metrics {sorted(received.metric_names)}"
            )
        return received

    # ---- receiving ----------------------------------------------------------------------------------------

    def _store(self, path: str, body: bytes) -> bytes | None:
        """Decode one export; the serialized response, or None for a path we do not serve."""
        with self._condition:
            self._received.requests.append(path)
            self._condition.notify_all()
        if path == "/v1/traces":
            spans = decode_spans(ExportTraceServiceRequest.FromString(body))
            with self._condition:
                self._received.spans.extend(spans)
                self._condition.notify_all()
            return bytes(ExportTraceServiceResponse().SerializeToString())
        if path == "/v1/metrics":
            request = ExportMetricsServiceRequest.FromString(body)
            names: set[str] = set()
            resources: list[dict[str, Any]] = []
            points = 0
            for resource_metrics in request.resource_metrics:
                resources.append(key_values(resource_metrics.resource.attributes))
                for scope_metrics in resource_metrics.scope_metrics:
                    names.update(metric.name for metric in scope_metrics.metrics)
                    for metric in scope_metrics.metrics:
                        kind = metric.WhichOneof("data")
                        points += len(getattr(metric, kind).data_points) if kind else 0
            with self._condition:
                self._received.metric_points += points
                self._received.metric_names.update(names)
                self._received.metric_resources.extend(resources)
                self._condition.notify_all()
            return bytes(ExportMetricsServiceResponse().SerializeToString())
        return None

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the exporters' session expects of a collector

            def do_GET(self) -> None:
                """`/counts`: `OtlpReceiver.counts` as JSON, for a receiver in another process."""
                if self.path.split("?", 1)[0] != "/counts":
                    self._reply(404, b"not found", "text/plain")
                    return
                self._reply(200, json.dumps(receiver.counts()).encode(), "application/json")

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    if self.headers.get("Content-Encoding", "").lower() == "gzip":
                        body = gzip.decompress(body)
                    answer = receiver._store(self.path.split("?", 1)[0], body)
                except Exception as error:  # a body we cannot decode: say so, as a collector would
                    self._reply(400, str(error).encode(), "text/plain")
                    return
                if answer is None:
                    self._reply(404, b"not found", "text/plain")
                else:
                    self._reply(200, answer, "application/x-protobuf")

            def _reply(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # quiet: the test output is enough
                return

        return Handler
