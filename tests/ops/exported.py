"""What the service really exports to Prometheus (`tests.ops.metrics_probe`, in a process of its own), and the
metric names a PromQL expression uses, for checking the alert rules and the dashboard against them."""

from __future__ import annotations

import re
import subprocess
import sys

from testkit.server import ROOT

EXPORTED_PREFIXES = ("support_", "gen_ai_", "http_server_")
_SELECTOR = re.compile(r"\{[^}]*\}")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_NAME = re.compile(r"\b[a-zA-Z_:][a-zA-Z0-9_:]*\b")


def scrape(database_url: str) -> str:
    finished = subprocess.run(
        [sys.executable, "-m", "tests.ops.metrics_probe", database_url],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr[-4000:]
    return finished.stdout


def series_names(exposition: str) -> set[str]:
    """The metric names of the samples in a Prometheus text exposition (`..._bucket`, `..._count` and all)."""
    return {
        re.split(r"[{ ]", line, maxsplit=1)[0] for line in exposition.splitlines() if line and not line.startswith("#")
    }


def metrics_in(expression: str) -> set[str]:
    """The metric names a PromQL expression reads: label matchers and grouping clauses taken out first, so label
    names (`support_run_status`) are not mistaken for metrics."""
    bare = _GROUPING.sub(" ", _SELECTOR.sub(" ", expression))
    return {name for name in _NAME.findall(bare) if name.startswith(EXPORTED_PREFIXES)}
