"""The image's HEALTHCHECK (`python -m api.ops.healthcheck`): it finds the server where HOST and PORT put it, IPv4 or
IPv6, and reports a server that answers but is not ready as unhealthy."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from api.ops.healthcheck import addresses, ready, url

ROOT = Path(__file__).resolve().parents[2]


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


class Probe(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/readyz" else 404)
        self.end_headers()

    def log_message(self, *_: object) -> None:
        return


def serving(host: str, status: int = 200) -> Iterator[int]:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    handler = type("Handler", (Probe,), {"status": status})
    server_class = type("Server", (ThreadingHTTPServer,), {"address_family": family})
    server = server_class((host, 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def ipv4_server() -> Iterator[int]:
    yield from serving("127.0.0.1")


@pytest.fixture
def unready_server() -> Iterator[int]:
    yield from serving("127.0.0.1", status=503)


def test_wildcards_are_reached_through_loopback() -> None:
    assert addresses("0.0.0.0") == ["127.0.0.1"]
    assert addresses("::") == ["127.0.0.1", "::1"]
    assert addresses("[::1]") == ["::1"]
    assert url("::1", "8000") == "http://[::1]:8000/readyz"


def test_a_ready_server_on_ipv4_passes_whether_host_is_the_ipv4_or_the_ipv6_wildcard(ipv4_server: int) -> None:
    assert ready("0.0.0.0", str(ipv4_server))
    assert ready("::", str(ipv4_server))
    assert ready("127.0.0.1", str(ipv4_server))


@pytest.mark.skipif(not ipv6_loopback(), reason="this machine has no IPv6 loopback")
def test_a_server_on_ipv6_only_is_found_at_its_address() -> None:
    for port in serving("::1"):
        assert ready("::1", str(port))
        assert ready("::", str(port))  # 127.0.0.1 refuses, ::1 answers


def test_an_unready_or_absent_server_fails(unready_server: int) -> None:
    assert not ready("0.0.0.0", str(unready_server))
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        free_port = unused.getsockname()[1]
    assert not ready("0.0.0.0", str(free_port))


def test_the_module_exits_by_the_result_and_imports_nothing_of_the_service(ipv4_server: int) -> None:
    code = "import runpy, sys; runpy.run_module('api.ops.healthcheck', run_name='__main__')"
    env = {**os.environ, "HOST": "::", "PORT": str(ipv4_server)}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, check=False)
    assert done.returncode == 0, done.stderr
    heavy = (
        "import sys, api.ops.healthcheck\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in {'fastapi', 'sqlalchemy', 'pydantic', 'tools'}))"
    )
    imported = subprocess.run([sys.executable, "-c", heavy], cwd=ROOT, capture_output=True, text=True, check=True)
    assert imported.stdout.strip() == "[]"
