"""Is this evaluation worse than a baseline report? The check `support eval --baseline` exits non-zero on.

Worse means either the pass rate (pass^1) fell by more than `TOLERANCE`, or a task that passed every trial in
the baseline does not pass every trial now. Tasks missing from either report are not compared (a run cut short
by the cost cap is reported as such, with its own exit code, not as a regression).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

TOLERANCE = 0.05
"""How far pass^1 may fall below the baseline's before it counts as a regression: live models are not
deterministic, and one task in twenty flipping is within their usual noise."""


def regressions(report: dict[str, Any], baseline: dict[str, Any], tolerance: float = TOLERANCE) -> list[str]:
    """What got worse, in words; empty when nothing did."""
    found: list[str] = []
    now, before = report["totals"]["pass_rate"], baseline["totals"]["pass_rate"]
    if now < before - tolerance:
        found.append(f"pass rate {now:.3f} is below the baseline's {before:.3f} by more than {tolerance:.2f}")
    earlier = {row["task_id"]: row for row in baseline["per_task"]}
    for row in report["per_task"]:
        was = earlier.get(row["task_id"])
        if was is not None and was["passed_all"] and row["trials"] and not row["passed_all"]:
            found.append(
                f"task {row['task_id']} passed in the baseline and now fails ({row['passes']}/{row['trials']})"
            )
    return found


class BaselineUnusable(ValueError):
    """The file given with `--baseline` is not a report this command wrote (or is for other tasks)."""


def load_baseline(path: Path, tasks: str) -> dict[str, Any]:
    """A previous `report.json`, checked before anything is played, so a typo costs nothing."""
    try:
        baseline = json.loads(path.read_text())
        rows = baseline["per_task"]
        float(baseline["totals"]["pass_rate"])
        if not all(isinstance(row["task_id"], str) and isinstance(row["passed_all"], bool) for row in rows):
            raise TypeError("a per_task row lacks task_id or passed_all")
    except OSError as error:
        raise BaselineUnusable(f"cannot read the baseline {path}: {error.strerror}") from error
    except (ValueError, KeyError, TypeError) as error:
        raise BaselineUnusable(f"{path} is not a report.json from support eval ({error!r})") from error
    if baseline.get("tasks") != tasks:
        raise BaselineUnusable(f"{path} is a report on {baseline.get('tasks')!r} tasks, not {tasks!r}")
    return baseline  # type: ignore[no-any-return]
