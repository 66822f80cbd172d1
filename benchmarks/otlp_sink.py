"""A collector stand-in for benchmarks: accepts OTLP/HTTP (protobuf) exports and only counts what they carry.

Run as its own process (`OtlpSink` starts one), so that decoding the exports costs the measured service nothing, as
with a real collector on another host:

    with OtlpSink() as sink:
        ...  # export to sink.endpoint
        sink.counts()  # {"spans": ..., "trace_exports": ..., "metric_exports": ..., "metric_points": ...}

It is the tests' receiver (`testkit.otlp_receiver`): POST /v1/traces and /v1/metrics are decoded with
opentelemetry-proto and answered 200 with an empty Export*ServiceResponse, as a collector would; GET /counts answers
the totals as JSON.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path
from types import TracebackType

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
    """The sink process: the test kit's OTLP receiver (`testkit.otlp_receiver`), its address on stdout."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from testkit.otlp_receiver import OtlpReceiver

    with OtlpReceiver() as receiver:
        print(receiver.endpoint, flush=True)
        threading.Event().wait()


if __name__ == "__main__":
    serve()
