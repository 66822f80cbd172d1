"""Logs an operator can search: one JSON object per line, each carrying the trace and span id of the request or
run it was written in, so a log line leads straight to its trace in Jaeger (and back).

Uvicorn's own access log is switched off: it is written after the request's span has ended, so it could not
carry the trace id. The access log here is written inside the request's span instead, and leaves out the
probes (`/healthz`, `/livez`, `/readyz`, `/metrics`) that a load balancer or Prometheus call every few seconds.
"""

from __future__ import annotations

import logging
import logging.config
import sys
import time
from typing import Any

from opentelemetry import trace
from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PROBES = frozenset({"/healthz", "/livez", "/readyz", "/metrics"})
access_log = logging.getLogger("support.access")

_ESCAPED = {
    code: f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
    for code in [*range(0x20), 0x7F, *range(0x80, 0xA0), 0x2028, 0x2029]
}
"""Control characters, and the Unicode line and paragraph separators some viewers break lines at, as escapes."""


def escape_controls(text: str) -> str:
    """`text` on one line: what a client sent (a path with `%0D%0A` in it, a header) cannot start a log line of
    its own that looks like one the service wrote."""
    return text.translate(_ESCAPED)


class OneLineFormatter(logging.Formatter):
    """The text format: each record's own line has its control characters escaped. A traceback, which is lines
    by nature, keeps its line breaks but loses every other control character (a carriage return would otherwise
    let it overwrite what came before on a terminal)."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return escape_controls(super().formatMessage(record))

    def formatException(self, ei: Any) -> str:
        return "\n".join(escape_controls(line) for line in super().formatException(ei).split("\n"))


class TraceContextFilter(logging.Filter):
    """Adds `trace_id` and `span_id` of the current span to a record; records outside any span get neither."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            record.trace_id = format(context.trace_id, "032x")
            record.span_id = format(context.span_id, "016x")
        return True


def stderr_handler(log_format: str = "json") -> logging.Handler:
    """The one handler every logger goes through (ours, uvicorn's, SQLAlchemy's), in `log_format`."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(TraceContextFilter())
    if log_format == "json":
        handler.setFormatter(
            JsonFormatter(
                "{levelname}{name}{message}",
                style="{",
                rename_fields={"levelname": "level", "name": "logger"},
                timestamp="time",  # ISO 8601, UTC
                reserved_attrs=[*RESERVED_ATTRS, "color_message"],  # uvicorn's coloured copy of the message
            )
        )
    else:
        handler.setFormatter(OneLineFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.captureWarnings(True)  # Python's warnings too, so that every line on stderr has the same form
    return handler


def logging_config(log_format: str = "json", level: str = "INFO") -> dict[str, Any]:
    """A `logging.config.dictConfig` for the service. Given to uvicorn as its `log_config`, so that it is applied
    in every worker process too (each is a fresh interpreter)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {"stderr": {"()": f"{__name__}.stderr_handler", "log_format": log_format}},
        "root": {"level": level, "handlers": ["stderr"]},
        "loggers": {
            # uvicorn's own loggers would print a second, plain copy of their lines
            "uvicorn": {"handlers": [], "propagate": True},
            "uvicorn.error": {"handlers": [], "propagate": True},
            "alembic.runtime.plugins": {"level": "WARNING"},  # a line per plugin at every start
            # The SDK's HTTP client logs every model request at INFO: a line per model call that says less than
            # the run's own record and its span, and costs a formatted JSON line twice a turn.
            "httpx2": {"level": "WARNING"},
            "httpx": {"level": "WARNING"},
        },
    }


def configure_logging(log_format: str = "json") -> None:
    logging.config.dictConfig(logging_config(log_format))


class AccessLog:
    """A plain ASGI middleware (not `BaseHTTPMiddleware`, which would buffer the streaming answers): one line per
    request when its response starts, inside the request's span."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path in PROBES:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def logging_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                method, status = scope.get("method", ""), message["status"]
                access_log.info(
                    "%s %s %s",
                    method,
                    path,
                    status,
                    extra={
                        "http.method": method,
                        "http.path": path,
                        "http.status": status,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                    },
                )
            await send(message)

        await self.app(scope, receive, logging_send)
