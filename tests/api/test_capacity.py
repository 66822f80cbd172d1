"""`support serve`'s worker count: from the CPUs this process may use (affinity mask, cgroup quota), and never
more database connections than `SUPPORT_DB_MAX_CONNECTIONS`."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from api.errors import ConfigurationError
from api.ops.capacity import ConnectionBudget, CpuBudget, cgroup_cpu_quota, cpu_budget, plan_workers

ROOT = Path(__file__).resolve().parents[2]
HERE_CPUS = len(os.sched_getaffinity(0))


def v2_root(tmp_path: Path, cpu_max: str) -> Path:
    root = tmp_path / "cgroup"
    root.mkdir()
    (root / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    (root / "cpu.max").write_text(f"{cpu_max}\n")
    return root


def v1_root(tmp_path: Path, quota: str, period: str = "100000", mount: str = "cpu,cpuacct") -> Path:
    root = tmp_path / "cgroup"
    (root / mount).mkdir(parents=True)
    (root / mount / "cpu.cfs_quota_us").write_text(f"{quota}\n")
    (root / mount / "cpu.cfs_period_us").write_text(f"{period}\n")
    return root


def proc_cgroup(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "proc-self-cgroup"
    path.write_text(text)
    return path


def usable_in_a_subprocess(cpus: set[int] | None, cgroup_root: Path) -> int:
    """`cpu_budget().usable` in a fresh interpreter whose affinity mask is first narrowed to `cpus`."""
    code = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "if sys.argv[2]: os.sched_setaffinity(0, {int(c) for c in sys.argv[2].split(',')})\n"
        "from api.ops.capacity import cpu_budget\n"
        "print(cpu_budget(Path(sys.argv[1])).usable)\n"
    )
    mask = ",".join(map(str, sorted(cpus))) if cpus else ""
    done = subprocess.run(
        [sys.executable, "-c", code, str(cgroup_root), mask], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return int(done.stdout)


@pytest.mark.skipif(HERE_CPUS < 2, reason="needs two CPUs to narrow the mask to one")
def test_a_narrowed_affinity_mask_gives_fewer_workers(tmp_path: Path) -> None:
    no_quota = v2_root(tmp_path, "max 100000")
    assert usable_in_a_subprocess(None, no_quota) == HERE_CPUS
    first = min(os.sched_getaffinity(0))
    assert usable_in_a_subprocess({first}, no_quota) == 1


@pytest.mark.skipif(HERE_CPUS < 2, reason="needs two CPUs to narrow the mask to one")
def test_the_mask_and_the_quota_each_limit_the_count(tmp_path: Path) -> None:
    generous_quota = v2_root(tmp_path, f"{HERE_CPUS * 2}00000 100000")
    assert usable_in_a_subprocess({min(os.sched_getaffinity(0))}, generous_quota) == 1  # the mask is lower
    (generous_quota / "cpu.max").write_text("100000 100000\n")
    assert usable_in_a_subprocess(None, generous_quota) == 1  # the quota is lower


def test_a_cgroup_v2_quota_in_cpus(tmp_path: Path) -> None:
    root = v2_root(tmp_path, "150000 100000")
    assert cgroup_cpu_quota(root, proc_cgroup(tmp_path, "0::/\n")) == 1.5
    budget = cpu_budget(root, proc_cgroup(tmp_path, "0::/\n"))
    assert budget.usable == 1, "a fractional quota rounds down: a second worker would get the group throttled"
    (root / "cpu.max").write_text("max 100000\n")
    assert cgroup_cpu_quota(root, proc_cgroup(tmp_path, "0::/\n")) is None


def test_the_lowest_quota_on_the_way_to_the_root_counts(tmp_path: Path) -> None:
    root = v2_root(tmp_path, "max 100000")
    (root / "pod" / "container").mkdir(parents=True)
    (root / "pod" / "cpu.max").write_text("200000 100000\n")
    (root / "pod" / "container" / "cpu.max").write_text("max 100000\n")
    assert cgroup_cpu_quota(root, proc_cgroup(tmp_path, "0::/pod/container\n")) == 2.0
    # a container with its own cgroup namespace: the host's path is not there, the mount is its own cgroup
    (root / "cpu.max").write_text("300000 100000\n")
    assert cgroup_cpu_quota(root, proc_cgroup(tmp_path, "0::/machine.slice/libpod-1.scope\n")) == 3.0


def test_a_cgroup_v1_quota(tmp_path: Path) -> None:
    root = v1_root(tmp_path, "50000")
    member = proc_cgroup(tmp_path, "4:cpu,cpuacct:/docker/0123\n3:memory:/docker/0123\n")
    assert cgroup_cpu_quota(root, member) == 0.5
    assert cpu_budget(root, member).usable == 1, "at least one worker"
    (root / "cpu,cpuacct" / "cpu.cfs_quota_us").write_text("-1\n")
    assert cgroup_cpu_quota(root, member) is None


def test_no_cgroup_files_means_no_quota(tmp_path: Path) -> None:
    assert cgroup_cpu_quota(tmp_path, tmp_path / "missing") is None
    assert cpu_budget(tmp_path, tmp_path / "missing").usable == HERE_CPUS


def test_a_worker_count_asked_for_that_passes_the_connection_ceiling_refuses_to_start() -> None:
    with pytest.raises(ConfigurationError) as refused:
        plan_workers(4, sqlite=False, connections=ConnectionBudget(per_worker=30, maximum=90))
    message = str(refused.value)
    assert "4 workers x 30 database connections each" in message and "= 120" in message
    assert "SUPPORT_DB_MAX_CONNECTIONS=90" in message and "at most 3 workers" in message
    assert plan_workers(3, sqlite=False, connections=ConnectionBudget(per_worker=30, maximum=90)) == 3


def test_the_default_on_a_large_node_is_lowered_to_what_the_database_takes(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="api.ops.capacity"):
        workers = plan_workers(
            0, sqlite=False, connections=ConnectionBudget(per_worker=30, maximum=90), cpus=CpuBudget(64, None)
        )
    assert workers == 3
    assert "starting 3 workers, not one per CPU (64 usable CPUs" in caplog.text
    assert plan_workers(0, sqlite=False, connections=ConnectionBudget(30, 90), cpus=CpuBudget(8, 2.0)) == 2


def test_a_pool_larger_than_the_ceiling_refuses_even_one_worker() -> None:
    with pytest.raises(ConfigurationError, match=r"1 worker x 30 .* = 30, more than SUPPORT_DB_MAX_CONNECTIONS=20"):
        plan_workers(0, sqlite=False, connections=ConnectionBudget(30, 20), cpus=CpuBudget(4, None))


def test_sqlite_takes_one_writer_so_one_worker() -> None:
    assert plan_workers(0, sqlite=True, connections=ConnectionBudget(30, 1), cpus=CpuBudget(64, None)) == 1


def test_support_serve_says_what_to_change_before_touching_the_database(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SUPPORT_", "DATABASE_URL"))}
    env |= {
        "DATABASE_URL": "postgresql://nobody@127.0.0.1:9/unreachable",  # never reached: the check comes first
        "SUPPORT_WORKERS": "8",
        "SUPPORT_DB_POOL_SIZE": "10",
        "SUPPORT_DB_POOL_OVERFLOW": "5",
        "SUPPORT_DB_MAX_CONNECTIONS": "100",
    }
    support = Path(sys.executable).with_name("support")
    done = subprocess.run(
        [str(support), "serve", "--port", "0"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        "support serve: 8 workers x 15 database connections each (SUPPORT_DB_POOL_SIZE + SUPPORT_DB_POOL_OVERFLOW) "
        "= 120, more than SUPPORT_DB_MAX_CONNECTIONS=100; use at most 6 workers (SUPPORT_WORKERS), a smaller pool, "
        "or a higher SUPPORT_DB_MAX_CONNECTIONS if the database's max_connections allows it"
    )
    assert "Traceback" not in done.stderr
