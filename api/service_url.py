"""Where the service listens, and where the command-line clients find it: one rule for both sides.

`support serve` listens on `--host`/`--port`, defaulting to `HOST`/`PORT` (127.0.0.1:8000). The clients
(`support chat`, `support approvals|handoffs ...`, `support desk-link`) reach it at `--url`, defaulting to
`SUPPORT_URL`, else to the address `serve` would listen on in the same environment: a service started with
`PORT=8080 ./dev serve` is found by `PORT=8080 ./dev support chat` with nothing more to say.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = "8000"
LISTEN_ANYWHERE = {"0.0.0.0": "127.0.0.1", "::": "::1"}  # noqa: S104 - mapped to loopback, never bound
"""A server listening on every address is reached on this machine through its loopback address."""


class BadServiceAddress(ValueError):
    """`PORT` or `SUPPORT_URL` cannot name the service; the message says which and why."""


def listen_host(environ: Mapping[str, str] = os.environ) -> str:
    return environ.get("HOST", "").strip() or DEFAULT_HOST


def listen_port(environ: Mapping[str, str] = os.environ) -> str:
    return environ.get("PORT", "").strip() or DEFAULT_PORT


def service_url(environ: Mapping[str, str] = os.environ) -> str:
    """`SUPPORT_URL`, else `http://HOST:PORT` as `support serve` reads them (a listen-anywhere host is reached
    through loopback)."""
    url = environ.get("SUPPORT_URL", "").strip()
    if url:
        if not url.startswith(("http://", "https://")):
            raise BadServiceAddress(f"SUPPORT_URL={url!r} is not an http(s) URL, e.g. http://127.0.0.1:8000")
        return url.rstrip("/")
    port = listen_port(environ)
    if not (port.isascii() and port.isdigit() and 0 < int(port) < 65536):
        raise BadServiceAddress(f"PORT={port!r} is not a port number")
    host = listen_host(environ)
    host = LISTEN_ANYWHERE.get(host, host)
    return f"http://{f'[{host}]' if ':' in host else host}:{int(port)}"
