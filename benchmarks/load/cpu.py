"""The CPU time processes on this host have spent, from /proc, for the benchmarks that sum a server's (its worker
processes') and PostgreSQL's: on a two-core machine the driver, the fake, the service and the database share the
cores, so a statement saved is CPU saved in the database too."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_tree_cpu_s(pid: int) -> float:
    """User + system CPU of a process and all its descendants that are alive (uvicorn's workers)."""
    total = 0.0
    for member in process_tree(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return total


def postgres_cpu_s() -> float | None:
    """User + system CPU of the PostgreSQL server on this host: its live processes (found by name: the backends and
    the writers of the WAL and the pages, whose work the statements cause too) and the backends that have exited
    (their parent, the postmaster, keeps their times). None when no PostgreSQL runs here."""
    servers: dict[int, list[str]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            head, _, rest = stat.read_text().rpartition(") ")
        except OSError:
            continue
        if head.partition(" (")[2] == "postgres":
            servers[int(stat.parent.name)] = rest.split()
    if not servers:
        return None
    # After "pid (name) ", the fields run from state (3): ppid is 4, utime 14, stime 15, cutime 16, cstime 17.
    ticks = sum(int(fields[11]) + int(fields[12]) for fields in servers.values())
    ticks += sum(int(fields[13]) + int(fields[14]) for fields in servers.values() if int(fields[1]) not in servers)
    return ticks / CLOCK_TICKS


def process_tree(pid: int) -> Iterator[int]:
    """A process and its descendants that are alive, from /proc."""
    yield pid
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except FileNotFoundError:
        return
    for child in children:
        yield from process_tree(int(child))
