"""How `support serve` runs the app: its workers schedule the garbage collector for serving (`api.ops.serving`; the
app tests build keeps the interpreter's defaults), its connections stay open longer than its clients', and its
workers share new connections evenly (`api.ops.worker_pool`)."""

from __future__ import annotations

import gc
import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from uvicorn.config import STARTUP_FAILURE

from api.ops.serving import SERVING_THRESHOLDS, create_served_app
from api.ops.worker_pool import serve_worker
from testkit.server import ServerProcess, listening_sockets, sockets_on_port


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
    with answered_connection(server.port) as connection:
        time.sleep(6)  # longer than uvicorn's own default keep-alive (5 s); the test waits on the server's timer
        ask_health(connection, server.port)
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


@pytest.mark.slow
def test_workers_share_new_connections_evenly_and_a_dead_worker_is_replaced(
    postgresql_url: str, tmp_path: Path, servers: list[ServerProcess]
) -> None:
    """Each worker listens on its own socket of one SO_REUSEPORT group (`api/ops/worker_pool.py`): the kernel deals
    connections out by a hash of their addresses, not to whichever worker wakes first. A worker killed with -9 is
    replaced, and new connections are all answered meanwhile and after."""
    server = ServerProcess(postgresql_url, tmp_path / "server.log", SUPPORT_WORKERS="2").start(120)
    servers.append(server)
    workers = listening_workers(server, 2)
    # A socket each (uvicorn's own supervisor shares one, held by the parent too): the kernel balances only
    # between sockets.
    assert server.process is not None and server.process.pid not in workers
    first, second = (listening_sockets(pid, server.port) for pid in workers)
    assert len(first) == len(second) == 1 and first != second

    # All at once, as 200 clients did in the benchmark: queued before any worker accepts one of them.
    connections = [socket.create_connection(("127.0.0.1", server.port), timeout=10) for _ in range(40)]
    for connection in connections:
        ask_health(connection, server.port)
    for connection in connections:
        assert one_response(connection).startswith(b"HTTP/1.1 200")
    shares = [sockets_on_port(pid, server.port)["ESTABLISHED"] for pid in workers]
    for connection in connections:
        connection.close()
    assert sum(shares) == 40
    assert min(shares) >= 8, shares  # an even split is 20 each; fewer than 8 has odds of about 1 in 100,000

    os.kill(workers[0], signal.SIGKILL)
    now = listening_workers(server, 2, other_than=workers[0])
    for _ in range(20):
        answered_connection(server.port).close()

    server.stop()
    assert server.process.returncode == 0
    assert not [pid for pid in now if Path(f"/proc/{pid}").exists()], "a worker outlived the server"


def listening_workers(server: ServerProcess, count: int, other_than: int = 0) -> list[int]:
    """The server's workers once `count` of them listen (and `other_than` is not among them)."""
    for _ in range(1200):  # a worker imports the service and starts: seconds on a busy machine
        workers = server.workers()
        if len(workers) == count and other_than not in workers:
            return workers
        time.sleep(0.1)  # polling processes the test does not control; bounded
    pytest.fail(f"expected {count} listening workers, found {server.workers()}")


def answered_connection(port: int) -> socket.socket:
    """A new connection to the server, on which one request has been answered (so a worker has accepted it)."""
    connection = socket.create_connection(("127.0.0.1", port), timeout=10)
    ask_health(connection, port)
    assert one_response(connection).startswith(b"HTTP/1.1 200")
    return connection


def ask_health(connection: socket.socket, port: int) -> None:
    connection.sendall(f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())


def test_a_worker_that_cannot_listen_fails_as_a_start_up_failure() -> None:
    """Another program took the port after `support serve` checked it: the worker exits as failing to start
    (so the pool stops the service) instead of being started again every half second."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(SystemExit) as exited:
            serve_worker(
                {"app": "api.ops.serving:create_served_app", "factory": True, "host": "127.0.0.1", "port": port}
            )
    assert exited.value.code == STARTUP_FAILURE


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.parametrize("workers", ["1", "2"])
def test_the_ipv6_wildcard_serves_ipv4_and_ipv6_clients(sqlite_url: str, tmp_path: Path, workers: str) -> None:
    """HOST=:: (as the image is run for IPv6) answers on 127.0.0.1 too, with one worker (whose socket asyncio would
    have made IPv6-only) and with several; ServerProcess itself waits on 127.0.0.1."""
    server = ServerProcess(sqlite_url, tmp_path / "server.log", HOST="::", SUPPORT_WORKERS=workers).start(120)
    try:
        assert httpx.get(f"http://127.0.0.1:{server.port}/readyz", timeout=5).status_code == 200
        if ipv6_loopback():
            assert httpx.get(f"http://[::1]:{server.port}/readyz", timeout=5).status_code == 200
    finally:
        server.stop()
