"""How `support serve` runs the app: its workers schedule the garbage collector for serving (`api.serving`; the
app tests build keeps the interpreter's defaults), and its connections stay open longer than its clients'."""

from __future__ import annotations

import gc
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.serving import SERVING_THRESHOLDS, create_served_app
from tests.support.server import ServerProcess


@pytest.fixture
def thresholds_restored() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.set_threshold(*before)


def test_a_served_app_collects_young_objects_less_often(
    thresholds_restored: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SUPPORT_JWT_SECRET", "serving-test-secret-0123456789abcdef")
    assert gc.get_threshold()[0] < SERVING_THRESHOLDS[0]
    app = create_served_app()
    assert gc.get_threshold() == SERVING_THRESHOLDS
    assert app.title


def test_an_idle_connection_outlives_a_client_pools_idle_timeout(
    sqlite_url: str, tmp_path: Path, servers: list[ServerProcess]
) -> None:
    """A client pool (or a load balancer) reuses a connection it has kept idle for a while; if the server closed it
    just then, the request fails with a reset instead of an answer. The server keeps idle connections longer than
    the common client idle timeouts (httpx: 5 s; load balancers: 60 s), so the client is the one to close them."""
    server = ServerProcess(sqlite_url, tmp_path / "server.log").start()
    servers.append(server)
    request = f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n\r\n".encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as connection:
        connection.sendall(request)
        assert one_response(connection).startswith(b"HTTP/1.1 200")
        time.sleep(6)  # longer than uvicorn's own default keep-alive (5 s); the test waits on the server's timer
        connection.sendall(request)
        assert one_response(connection).startswith(b"HTTP/1.1 200")


def one_response(connection: socket.socket) -> bytes:
    """Read exactly one HTTP response (its head, then `Content-Length` bytes of body), however the bytes arrive;
    b"" if the server closed the connection instead."""
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = connection.recv(65536)
        if not chunk:
            return received
        received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        chunk = connection.recv(65536)
        if not chunk:
            break
        body += chunk
    assert len(body) == length, "the response ended early"
    return head
