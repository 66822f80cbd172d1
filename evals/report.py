"""What a live evaluation found: per trial, per task and in total, as `report.json` and a self-contained HTML page.

pass^k is tau2-bench's reliability measure: for a task run in n trials of which c passed, the chance that k
trials drawn from them all pass, C(c, k) / C(n, k); averaged over tasks. With n = k it is the fraction of tasks
that passed in every trial. The report gives pass^1 .. pass^n.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

REPORT_VERSION = 1


@dataclass(slots=True)
class TrialResult:
    """One play of one task. `status`: `finished` (the conversation ended and the state was compared),
    `cut_short` (the cost cap stopped it first), or `error` (the run could not be played; see `error`).
    A trial in error counts as a failed trial: a model or service that breaks down has failed the customer.
    Only trials cut short are left out of pass^k, as not measured."""

    task_id: str
    trial: int
    status: str = "finished"
    passed: bool = False
    state_match: bool = False
    mismatch: list[str] = field(default_factory=list)
    """Where the final store differs from the expected one (a few paths), when it does."""
    denied_calls: int = 0
    """Tool calls the policy refused: policy violations the agent attempted."""
    approvals: int = 0
    approvals_granted: int = 0
    confirmations: int = 0
    confirmations_accepted: int = 0
    agent_turns: int = 0
    agent_cost_usd: float = 0.0
    customer_cost_usd: float = 0.0
    tokens: int = 0
    latencies_s: list[float] = field(default_factory=list)
    """Seconds per customer message, from sending it to the service's answer."""
    error: str | None = None
    conversation: list[dict[str, Any]] = field(default_factory=list)
    """What was said, turn by turn (`kind`, `text`, the service's `reply` and `run_status`), to read a failure."""
    runs: int = 0
    """The service's runs (one per message, and one per decision that resumed a paused run)."""
    simple_runs: int = 0
    """Runs that started on the simple route (`agent.routing.routes`)."""
    escalated_runs: int = 0
    """Of those, the runs that moved to the default route (the simple model proposed a write, or failed)."""

    def count_routes(self, runs: list[Any]) -> None:
        """Count the played runs' routes (`evals.transcript.RunRecord`s)."""
        self.runs = len(runs)
        self.simple_runs = sum(run.route == "simple" for run in runs)
        self.escalated_runs = sum(run.route == "simple" and bool(run.route_escalation) for run in runs)

    @property
    def cost_usd(self) -> float:
        return self.agent_cost_usd + self.customer_cost_usd


def pass_hat_k(successes: int, trials: int, k: int) -> float:
    if trials < k:
        return 0.0
    return math.comb(successes, k) / math.comb(trials, k)


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100): always a value that was measured."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def latency(values: list[float]) -> dict[str, float | None]:
    return {f"p{q}": percentile(values, q) for q in (50, 95, 99)}


def _task_row(task_id: str, trials: list[TrialResult], k: int) -> dict[str, Any]:
    played = [t for t in trials if t.status != "cut_short"]
    passes = sum(t.passed for t in played)
    return {
        "task_id": task_id,
        "trials": len(played),
        "passes": passes,
        "pass_rate": passes / len(played) if played else 0.0,
        "pass_hat_k": {str(n): pass_hat_k(passes, len(played), n) for n in range(1, k + 1)},
        "passed_all": bool(played) and len(played) == k and passes == k,
        "state_match": sum(t.state_match for t in played),
        "denied_calls": sum(t.denied_calls for t in trials),
        "approvals": sum(t.approvals for t in trials),
        "confirmations": sum(t.confirmations for t in trials),
        "cost_usd": round(sum(t.cost_usd for t in trials), 6),
        "tokens": sum(t.tokens for t in trials),
        "latency_s": latency([s for t in trials for s in t.latencies_s]),
        "cut_short": any(t.status == "cut_short" for t in trials),
        "errors": [t.error for t in trials if t.error],
        "first_mismatch": next((t.mismatch[0] for t in played if t.mismatch), None),
    }


def build_report(
    results: list[TrialResult],
    *,
    model: str,
    tasks: str,
    trials: int,
    max_cost_usd: float | None,
    cut_short: bool,
    model_api: str | None = None,
) -> dict[str, Any]:
    """`model_api` is where the model's answers came from (None for the offline model, which has no API): the
    report says so at the top, so a run against a local stand-in of the Messages API is never read as Claude's."""
    by_task: dict[str, list[TrialResult]] = {}
    for result in results:
        by_task.setdefault(result.task_id, []).append(result)
    rows = [_task_row(task_id, by_task[task_id], trials) for task_id in by_task]
    complete = [r for r in rows if r["trials"] == trials]
    pass_k = {
        str(k): (sum(pass_hat_k(r["passes"], r["trials"], k) for r in complete) / len(complete) if complete else 0.0)
        for k in range(1, trials + 1)
    }
    return {
        "version": REPORT_VERSION,
        "model": model,
        "model_api": model_api,
        "stand_in": model_api is not None and not is_anthropics_own(model_api),
        "tasks": tasks,
        "trials": trials,
        "max_cost_usd": max_cost_usd,
        "cut_short": cut_short,
        "totals": {
            "tasks": len(rows),
            "tasks_complete": len(complete),
            "pass_hat_k": pass_k,
            "pass_rate": pass_k["1"] if trials else 0.0,
            "state_match": sum(t.state_match for t in results),
            "trials_played": sum(t.status != "cut_short" for t in results),
            "trials_in_error": sum(t.status == "error" for t in results),
            "denied_calls": sum(t.denied_calls for t in results),
            "approvals": sum(t.approvals for t in results),
            "approvals_granted": sum(t.approvals_granted for t in results),
            "confirmations": sum(t.confirmations for t in results),
            "confirmations_accepted": sum(t.confirmations_accepted for t in results),
            "cost_usd": round(sum(t.cost_usd for t in results), 6),
            "agent_cost_usd": round(sum(t.agent_cost_usd for t in results), 6),
            "customer_cost_usd": round(sum(t.customer_cost_usd for t in results), 6),
            "tokens": sum(t.tokens for t in results),
            "latency_s": latency([s for t in results for s in t.latencies_s]),
            "runs": sum(t.runs for t in results),
            "simple_runs": sum(t.simple_runs for t in results),
            "escalated_runs": sum(t.escalated_runs for t in results),
        },
        "per_task": rows,
        "trial_results": [asdict(t) | {"cost_usd": t.cost_usd} for t in results],
    }


def plot(rows: list[dict[str, Any]], *, width: int = 900, height: int = 160) -> dict[str, Any]:
    """Bar geometry for the two inline SVG plots (pass rate and cost per task); the template only draws it.
    Bars are at most 48 px wide. Short ids (tau2's numbers) are written under their bars; long ones (golden case
    names) are written slanted, and with many tasks only every few bars are labelled, so labels never overlap."""
    slot = min(48.0, width / max(1, len(rows)))
    longest = max((len(r["task_id"]) for r in rows), default=1)
    slanted = longest > 4
    label_every = max(1, math.ceil((12 if slanted else 6 * longest + 4) / slot))
    top_cost = max((r["cost_usd"] for r in rows), default=0.0) or 1.0
    bars = []
    for index, row in enumerate(rows):
        x = round(index * slot + slot * 0.1, 2)
        bars.append(
            {
                "task_id": row["task_id"],
                "x": x,
                "centre": round(index * slot + slot / 2, 2),
                "width": round(slot * 0.8, 2),
                "pass_height": round(row["pass_rate"] * height, 2),
                "cost_height": round(row["cost_usd"] / top_cost * height, 2),
                "pass_rate": row["pass_rate"],
                "cost_usd": row["cost_usd"],
                "labelled": index % label_every == 0,
                "failed": not row["passed_all"],
            }
        )
    return {
        "width": max(240, round(slot * len(rows)) + (40 if slanted else 0)),
        "height": height,
        "label_room": min(220, round(longest * 6.5 * 0.87) + 16) if slanted else 20,
        "left_room": min(160, round(longest * 6.5 * 0.5) + 10) if slanted else 0,
        "slanted": slanted,
        "bars": bars,
        "top_cost": top_cost,
    }


_templates = Environment(
    loader=FileSystemLoader(Path(__file__).with_name("templates")), autoescape=select_autoescape(["html"])
)


ANTHROPIC_API = "https://api.anthropic.com"


def is_anthropics_own(url: str) -> bool:
    return url.rstrip("/").lower().startswith(ANTHROPIC_API)


def render_html(report: dict[str, Any]) -> str:
    return _templates.get_template("report.html").render(report=report, plot=plot(report["per_task"]))


def write_report(report: dict[str, Any], out: Path) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    as_json, as_html = out / "report.json", out / "report.html"
    as_json.write_text(json.dumps(report, indent=2) + "\n")
    as_html.write_text(render_html(report))
    return as_json, as_html
