"""`support serve`'s worker processes on Linux: each listens on a socket of its own, and the kernel deals new
connections out evenly among them.

uvicorn's own supervisor hands every worker the same listening socket, and whichever worker wakes first accepts
everything that is waiting. When 200 clients connected at once, one worker took 124 connections and the other 76
(`benchmarks/throughput.py`); clients keep their connections open, so for as long as they stayed one worker did
three fifths of the work while the other idled. With SO_REUSEPORT every worker has its own socket in one group on
the port, and the kernel picks a socket for each new connection from a hash of its addresses: an even share,
whatever each worker happens to be doing at that instant.

The parent only starts, watches and stops the workers. A worker that dies is replaced (connections it had
accepted, or that were queued on its socket, are lost with it, as in any crash; new ones go to the workers that
are up). A worker that fails while starting stops the service instead, since its replacement would fail the same
way. SIGINT or SIGTERM stop every worker, and each drains its requests in flight first.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
from multiprocessing.context import SpawnProcess
from types import FrameType
from typing import Any

import uvicorn
from uvicorn.config import STARTUP_FAILURE

log = logging.getLogger("uvicorn.error")

BALANCES_CONNECTIONS = sys.platform == "linux" and hasattr(socket, "SO_REUSEPORT")
"""Only Linux spreads connections over a SO_REUSEPORT group (macOS and the BSDs give them all to one socket)."""

WATCH_EVERY_S = 0.5


def listening_socket(host: str, port: int, *, share_port: bool = True) -> socket.socket:
    """A socket bound to the service's address; with `share_port`, in the port's SO_REUSEPORT group (each worker
    listens on one). The IPv6 wildcard `::` takes IPv4 connections too (as mapped addresses): left to itself,
    asyncio makes it IPv6-only, and `HOST=::` in a container would refuse every IPv4 client."""
    address = host.strip("[]")
    sock = socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if share_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    if address == "::":
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    sock.bind((address, port))
    return sock


def serve_worker(options: dict[str, Any], *, share_port: bool = True) -> None:
    """One worker process: uvicorn serving the app on the worker's own socket (`share_port=False`: the one
    process of a single-worker server, whose port no other process may join)."""
    config = uvicorn.Config(**options)
    try:
        sock = listening_socket(config.host, config.port, share_port=share_port)
    except OSError as error:  # taken since `support serve` checked it: retrying would fail the same way
        log.error("Worker [%d] cannot listen on %s:%d: %s", os.getpid(), config.host, config.port, error.strerror)
        sys.exit(STARTUP_FAILURE)
    server = uvicorn.Server(config)
    server.run(sockets=[sock])
    if not server.started:
        sys.exit(STARTUP_FAILURE)


class WorkerPool:
    """`workers` processes, each running `serve_worker(options)`; `options` are `uvicorn.Config`'s arguments."""

    def __init__(self, options: dict[str, Any], workers: int) -> None:
        self.options = options
        self.workers = workers
        self.processes: list[SpawnProcess] = []
        self.stopping = threading.Event()
        self.stopped_by: int | None = None
        self.failed = False

    def run(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._stop)
        log.info("Started parent process [%d] with %d workers, one socket each", os.getpid(), self.workers)
        self.processes = [self._start() for _ in range(self.workers)]
        while not self.stopping.wait(WATCH_EVERY_S):
            self._replace_dead_workers()
        if self.stopped_by is not None:
            log.info("Received %s, stopping the workers", signal.Signals(self.stopped_by).name)
        for process in self.processes:
            if process.is_alive():
                process.terminate()  # SIGTERM: uvicorn stops taking connections and drains
        for process in self.processes:
            process.join()
        log.info("Stopping parent process [%d]", os.getpid())
        if self.failed:
            sys.exit(STARTUP_FAILURE)

    def _start(self) -> SpawnProcess:
        process = multiprocessing.get_context("spawn").Process(target=serve_worker, args=(self.options,))
        process.start()
        return process

    def _replace_dead_workers(self) -> None:
        for index, process in enumerate(self.processes):
            if process.is_alive() or self.stopping.is_set():
                continue
            if process.exitcode == STARTUP_FAILURE:
                log.error("Worker [%d] failed to start; stopping the service", process.pid)
                self.failed = True
                self.stopping.set()
                return
            log.warning("Worker [%d] exited with %s; starting another", process.pid, process.exitcode)
            self.processes[index] = self._start()

    def _stop(self, signum: int, _: FrameType | None) -> None:
        self.stopped_by = signum  # logged by the main loop: a signal handler must not take the logging lock
        self.stopping.set()
