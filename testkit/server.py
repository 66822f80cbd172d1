"""The service as a real process: `support serve` on a free port, for restart and multi-replica tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx

from testkit.service import TEST_SECRET

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def child_pids(pid: int) -> list[int]:
    try:
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []


_TCP_STATES = {"01": "ESTABLISHED", "0A": "LISTEN"}


def sockets_on_port(pid: int, port: int) -> Counter[str]:
    """The TCP sockets process `pid` holds on local port `port`, counted by state (ESTABLISHED, LISTEN)."""
    return Counter(state for state, _ in _sockets_on_port(pid, port))


def listening_sockets(pid: int, port: int) -> set[str]:
    """The listening sockets process `pid` holds on local port `port`, by inode: two processes holding the same
    inode share one socket."""
    return {inode for state, inode in _sockets_on_port(pid, port) if state == "LISTEN"}


def _sockets_on_port(pid: int, port: int) -> Iterator[tuple[str, str]]:
    try:
        links = [os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()]
    except (FileNotFoundError, ProcessLookupError):
        return
    inodes = {link[len("socket:[") : -1] for link in links if link.startswith("socket:[")}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[9] in inodes:
                yield _TCP_STATES.get(fields[3], fields[3]), fields[9]


class ServerProcess:
    def __init__(self, database_url: str, log: Path, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "SUPPORT_JWT_SECRET": TEST_SECRET,
            "SUPPORT_MODEL": "offline",
            "SUPPORT_WORKERS": "1",  # one process per replica: kill -9 must take the whole server down
            **env,
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 90.0) -> ServerProcess:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "cli.main", "serve", "--port", str(self.port)],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with {self.process.returncode}:\n{self.log.read_text()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)  # polling a process we do not control; bounded by the deadline
        self.stop()  # a server that never became healthy must not outlive the test that started it
        raise TimeoutError(f"the server did not become healthy:\n{self.log.read_text()}")

    def workers(self) -> list[int]:
        """The processes listening on the server's port: the server itself with one worker, else its workers."""
        assert self.process is not None
        candidates = [self.process.pid, *child_pids(self.process.pid)]
        return [pid for pid in candidates if listening_sockets(pid, self.port)]

    def kill(self) -> None:
        """kill -9: no shutdown hooks, no graceful anything."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()


def support_against(server: ServerProcess, *args: str) -> subprocess.CompletedProcess[str]:
    """The `support` command, as a staff member runs it against `server` (its URL and the test signing secret)."""
    env = {**os.environ, "SUPPORT_JWT_SECRET": TEST_SECRET, "SUPPORT_URL": server.url}
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
