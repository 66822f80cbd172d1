"""A collector stand-in for benchmarks: accepts OTLP/HTTP (protobuf) exports and only counts what they carry.

Run as its own process (`OtlpSink` starts one), so that decoding the exports costs the measured service nothing, as
with a real collector on another host:

    with OtlpSink() as sink:
        ...  # export to sink.endpoint
        sink.counts()  # {"spans": ..., "trace_exports": ..., "metric_exports": ..., "metric_points": ...}

POST /v1/traces and /v1/metrics are decoded with opentelemetry-proto and answered 200 with an empty
Export*ServiceResponse, as a collector would; GET /counts answers the totals as JSON.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

import httpx


class OtlpSink:
    """The sink process on 127.0.0.1 and a free port; `endpoint` is the base URL the exporters append to."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[str] | None = None
        self.endpoint = ""

    def __enter__(self) -> OtlpSink:
        self._process = subprocess.Popen(  # noqa: S603 - our own interpreter and this file
            [sys.executable, __file__], stdout=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL
        )
        assert self._process.stdout is not None
        self.endpoint = self._process.stdout.readline().strip()
        if not self.endpoint.startswith("http://"):
            raise RuntimeError(f"the OTLP sink did not start: {self.endpoint!r}")
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=5)

    def counts(self) -> dict[str, int]:
        counted: dict[str, int] = httpx.get(f"{self.endpoint}/counts", timeout=5).json()
        return counted


def serve() -> None:
    # Imported here: the benchmark process that starts the sink needs none of it.
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
        ExportMetricsServiceRequest,
        ExportMetricsServiceResponse,
    )
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
        ExportTraceServiceResponse,
    )

    counts: Counter[str] = Counter()
    lock = threading.Lock()

    def traces(body: bytes) -> bytes:
        request = ExportTraceServiceRequest.FromString(body)
        spans = sum(len(scope.spans) for resource in request.resource_spans for scope in resource.scope_spans)
        with lock:
            counts.update(spans=spans, trace_exports=1)
        return bytes(ExportTraceServiceResponse().SerializeToString())

    def metrics(body: bytes) -> bytes:
        request = ExportMetricsServiceRequest.FromString(body)
        points = 0
        for resource in request.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    kind = metric.WhichOneof("data")
                    points += len(getattr(metric, kind).data_points) if kind else 0
        with lock:
            counts.update(metric_points=points, metric_exports=1)
        return bytes(ExportMetricsServiceResponse().SerializeToString())

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the exporters' session expects of a collector

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.headers.get("Content-Encoding", "").lower() == "gzip":
                body = gzip.decompress(body)
            handle = {"/v1/traces": traces, "/v1/metrics": metrics}.get(self.path.split("?", 1)[0])
            if handle is None:
                self._reply(404, b"not found", "text/plain")
            else:
                self._reply(200, handle(body), "application/x-protobuf")

        def do_GET(self) -> None:
            with lock:
                answer = json.dumps(dict(counts)).encode()
            self._reply(200, answer, "application/json")

        def _reply(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    host, port = server.server_address[:2]
    print(f"http://{host!s}:{port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    serve()
