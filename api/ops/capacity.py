"""How many worker processes `support serve` starts, and whether their database connections fit the server.

`os.cpu_count()` is the host's count: a container started with `--cpuset-cpus=0` or `--cpus=1` on a 64-core node
saw 64, started 64 workers, and each opened up to a pool plus its overflow of PostgreSQL connections (30 by
default): far past the server's default `max_connections` of 100, so requests failed under load with "too many
clients". The CPUs this process may use are the fewest of two limits:

- the affinity mask (`os.sched_getaffinity`): what `--cpuset-cpus`, `taskset` or a CPU manager allow;
- the cgroup's CPU quota: cgroup v2 `cpu.max` ("150000 100000" is 1.5 CPUs; "max" is none), or cgroup v1
  `cpu.cfs_quota_us` over `cpu.cfs_period_us` (-1 is none), the lowest along the cgroup's path to the root.

A fractional quota rounds down (at least one): a worker beyond the quota gets the group throttled for the rest of
each period, and every request in flight in it waits that long.

Connections: every worker may open `pool + overflow` of them. A default count is lowered until they fit under
`SUPPORT_DB_MAX_CONNECTIONS` (with a warning); a count asked for explicitly that does not fit stops the start with
a message saying what to change. SQLite has no connection limit to mind, and one writer: one worker by default.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path

from api.errors import ConfigurationError

log = logging.getLogger(__name__)

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_SELF_CGROUP = Path("/proc/self/cgroup")


@dataclass(frozen=True, slots=True)
class CpuBudget:
    """The CPUs this process may use, and where each limit came from (for the start-up log line)."""

    affinity: int
    quota: float | None
    """CPUs allowed by the cgroup quota; None when there is none (or no cgroup file could be read)."""

    @property
    def usable(self) -> int:
        if self.quota is None:
            return self.affinity
        return max(1, min(self.affinity, math.floor(self.quota)))

    def describe(self) -> str:
        quota = "no cgroup CPU quota" if self.quota is None else f"a cgroup CPU quota of {self.quota:g}"
        return f"{self.usable} usable CPUs (affinity mask {self.affinity}, {quota})"


def affinity_cpus() -> int:
    if hasattr(os, "sched_getaffinity"):  # Linux; macOS has no affinity mask
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def cpu_budget(cgroup_root: Path = CGROUP_ROOT, proc_cgroup: Path = PROC_SELF_CGROUP) -> CpuBudget:
    return CpuBudget(affinity=affinity_cpus(), quota=cgroup_cpu_quota(cgroup_root, proc_cgroup))


def cgroup_cpu_quota(cgroup_root: Path = CGROUP_ROOT, proc_cgroup: Path = PROC_SELF_CGROUP) -> float | None:
    """The lowest CPU quota on this process's cgroup and its ancestors, in CPUs; None when there is none."""
    memberships = _memberships(proc_cgroup)
    if (cgroup_root / "cgroup.controllers").is_file():  # cgroup v2: one hierarchy
        levels = _levels(cgroup_root, memberships.get("", "/"))
        quotas = [_v2_quota(level / "cpu.max") for level in levels]
    else:  # cgroup v1: the cpu controller's own hierarchy, mounted alone or with cpuacct
        mounts = (cgroup_root / name for name in ("cpu,cpuacct", "cpu", "cpuacct,cpu"))
        mount = next((folder for folder in mounts if folder.is_dir()), None)
        if mount is None:
            return None
        levels = _levels(mount, memberships.get("cpu", "/"))
        quotas = [_v1_quota(level) for level in levels]
    found = [q for q in quotas if q is not None]
    return min(found) if found else None


def _memberships(proc_cgroup: Path) -> dict[str, str]:
    """Controller -> this process's cgroup path, from `/proc/self/cgroup` ("" is the v2 hierarchy)."""
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        return {}
    found: dict[str, str] = {}
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) == 3:
            for controller in parts[1].split(","):
                found[controller] = parts[2]
    return found


def _levels(mount: Path, relative: str) -> list[Path]:
    """The process's cgroup folder and each ancestor up to the mount. Inside a container with its own cgroup
    namespace, or where the host's path is not mounted, the mount itself is the process's cgroup."""
    leaf = mount / relative.strip("/")
    if not leaf.is_dir():
        return [mount]
    levels = [leaf]
    while levels[-1] != mount and mount in levels[-1].parents:
        levels.append(levels[-1].parent)
    return levels


def _v2_quota(cpu_max: Path) -> float | None:
    try:
        quota, period = cpu_max.read_text().split()
    except (OSError, ValueError):
        return None
    return None if quota == "max" else _ratio(quota, period)


def _v1_quota(folder: Path) -> float | None:
    try:
        quota = (folder / "cpu.cfs_quota_us").read_text().strip()
        period = (folder / "cpu.cfs_period_us").read_text().strip()
    except OSError:
        return None
    return None if quota.startswith("-") else _ratio(quota, period)


def _ratio(quota: str, period: str) -> float | None:
    try:
        value = int(quota) / int(period)
    except (ValueError, ZeroDivisionError):
        return None
    return value if value > 0 else None


@dataclass(frozen=True, slots=True)
class ConnectionBudget:
    per_worker: int
    """`SUPPORT_DB_POOL_SIZE` + `SUPPORT_DB_POOL_OVERFLOW`: the most one worker process opens."""
    maximum: int
    """`SUPPORT_DB_MAX_CONNECTIONS`: the most all of this server's workers may open together."""

    @property
    def workers_that_fit(self) -> int:
        return self.maximum // self.per_worker

    def refusal(self, workers: int) -> str:
        fit = self.workers_that_fit
        advice = f"use at most {fit} worker{'s' if fit != 1 else ''} (SUPPORT_WORKERS), " if fit else ""
        return (
            f"{workers} worker{'s' if workers != 1 else ''} x {self.per_worker} database connections each "
            f"(SUPPORT_DB_POOL_SIZE + SUPPORT_DB_POOL_OVERFLOW) = {workers * self.per_worker}, more than "
            f"SUPPORT_DB_MAX_CONNECTIONS={self.maximum}; {advice}a smaller pool, or a higher "
            "SUPPORT_DB_MAX_CONNECTIONS if the database's max_connections allows it"
        )


def plan_workers(requested: int, *, sqlite: bool, connections: ConnectionBudget, cpus: CpuBudget | None = None) -> int:
    """The worker count to start: `requested` if given (0: choose), checked against the connection budget."""
    if sqlite:
        return requested or 1
    if requested:
        if requested * connections.per_worker > connections.maximum:
            raise ConfigurationError(connections.refusal(requested))
        return requested
    budget = cpus or cpu_budget()
    if connections.workers_that_fit < 1:
        raise ConfigurationError(connections.refusal(1))
    workers = min(budget.usable, connections.workers_that_fit)
    if workers < budget.usable:
        log.warning(
            "starting %d workers, not one per CPU (%s): %d workers x %d database connections would pass "
            "SUPPORT_DB_MAX_CONNECTIONS=%d",
            workers,
            budget.describe(),
            budget.usable,
            connections.per_worker,
            connections.maximum,
        )
    else:
        log.info("starting %d workers: %s", workers, budget.describe())
    return workers
