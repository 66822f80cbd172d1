"""`support eval --compare`: the same tasks under two versions of the service, side by side, before one ships.

    support eval --tasks golden --model anthropic:claude-sonnet-4-6 --compare prompt=v1,prompt=v2
    support eval --tasks golden --model anthropic:claude-sonnet-4-6 \
        --compare model=anthropic:claude-sonnet-4-6,model=anthropic:claude-opus-4-6
    support eval --tasks golden --model anthropic:claude-sonnet-4-6 \
        --compare routes=off,routes=simple=anthropic:claude-haiku-4-5

The first variant is the current version, the second the candidate. Each is evaluated as `support eval` would
(its own report, in `current/` and `candidate/` under `--out`), one after the other on the same tasks, under one
cost cap; the simulated customer of tau2 tasks is the same model for both. The comparison (`report.json` and
`report.html` at the top of `--out`) puts pass rate, cost, tokens and latency side by side and lists the cases
whose outcome changed. The exit code is 1 when the candidate fails a case the current version passed (every
trial), whatever else improved: a version that breaks what worked does not ship on its averages.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TextIO

from jinja2 import Environment, FileSystemLoader, select_autoescape

from agent import ConfigurationError, PromptVersions
from api.settings import Settings
from cli.eval.command import (
    EXIT_CUT_SHORT,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_REGRESSION,
    EXIT_USAGE,
    EvalOptions,
    EvalSetupError,
    anthropic_model_id,
    check_target,
    evaluate,
)
from evals.cost_cap import CostCap
from evals.report import write_report
from tools import registry

KINDS = ("prompt", "model", "routes")
_VARIANT_START = re.compile(r",\s*(?=(?!simple=|default=)[A-Za-z_]+=)")
"""Where one variant ends: a comma before the next `kind=`. A routes value has commas of its own, each before a
route's name."""
COMPARISON_VERSION = 1


@dataclass(frozen=True, slots=True)
class Variant:
    kind: str
    value: str

    @property
    def label(self) -> str:
        return f"{self.kind}={self.value}"

    def applied(self, options: EvalOptions) -> EvalOptions:
        """`options` with this variant's change: the prompt version, the model, or the routes (`off`: none)."""
        if self.kind == "prompt":
            return replace(options, service_settings={**options.service_settings, "SUPPORT_PROMPT_VERSION": self.value})
        if self.kind == "model":
            return replace(options, model=self.value)
        return replace(options, routes=None if self.value == "off" else self.value)


def parse_variants(text: str) -> tuple[Variant, Variant]:
    """`kind=value,kind=value`: the current version, then the candidate."""
    parts = [part.strip() for part in _VARIANT_START.split(text.strip())]
    variants = []
    for part in parts:
        kind, equals, value = part.partition("=")
        if not equals or kind not in KINDS or not value.strip():
            raise EvalSetupError(
                f"--compare: {part!r} is not a variant; use prompt=<version>, model=<model> or routes=<routes or off>"
            )
        variants.append(Variant(kind, value.strip()))
    if len(variants) != 2:
        raise EvalSetupError(f"--compare takes two variants (the current one, then the candidate), not {len(variants)}")
    if variants[0] == variants[1]:
        raise EvalSetupError(f"--compare: both variants are {variants[0].label}")
    return variants[0], variants[1]


def side_by_side(label: str, report: dict[str, Any]) -> dict[str, Any]:
    """The measures compared, for one variant."""
    totals = report["totals"]
    rows = report["per_task"]
    return {
        "label": label,
        "model": report["model"],
        "model_api": report["model_api"],
        "stand_in": report["stand_in"],
        "pass_rate": totals["pass_rate"],
        "passed": sum(row["passed_all"] for row in rows),
        "tasks": len(rows),
        "cost_usd": totals["cost_usd"],
        "agent_cost_usd": totals["agent_cost_usd"],
        "tokens": totals["tokens"],
        "latency_s": totals["latency_s"],
        "trials_in_error": totals["trials_in_error"],
        "cut_short": report["cut_short"],
        "runs": totals["runs"],
        "simple_runs": totals["simple_runs"],
        "escalated_runs": totals["escalated_runs"],
    }


def outcome(row: dict[str, Any] | None) -> str:
    if row is None or not row["trials"]:
        return "not played"
    if row["passed_all"]:
        return "passed"
    return "failed" if row["passes"] == 0 else f"passed {row['passes']}/{row['trials']}"


def compare_reports(
    current: Variant, current_report: dict[str, Any], candidate: Variant, candidate_report: dict[str, Any]
) -> dict[str, Any]:
    """The two reports side by side, and the cases whose outcome changed (worse: passed every trial before)."""
    before = {row["task_id"]: row for row in current_report["per_task"]}
    after = {row["task_id"]: row for row in candidate_report["per_task"]}
    changed = []
    for task_id in [*before, *(t for t in after if t not in before)]:
        was, now = before.get(task_id), after.get(task_id)
        if outcome(was) == outcome(now) or now is None or not now["trials"]:
            continue  # the same, or not measured on the candidate (cut short): nothing to say
        worse = bool(was and was["passed_all"]) and not now["passed_all"]
        better = bool(now["passed_all"]) and not (was and was["passed_all"])
        changed.append(
            {
                "task_id": task_id,
                "current": outcome(was),
                "candidate": outcome(now),
                "direction": "worse" if worse else "better" if better else "changed",
                "why": now["first_mismatch"] or "; ".join(e for e in now["errors"] if e) or "",
            }
        )
    return {
        "version": COMPARISON_VERSION,
        "tasks": current_report["tasks"],
        "trials": current_report["trials"],
        "current": side_by_side(current.label, current_report),
        "candidate": side_by_side(candidate.label, candidate_report),
        "changed": changed,
        "worse": [row["task_id"] for row in changed if row["direction"] == "worse"],
        "cut_short": current_report["cut_short"] or candidate_report["cut_short"],
        "reports": {"current": "current/report.html", "candidate": "candidate/report.html"},
    }


_templates = Environment(
    loader=FileSystemLoader(Path(__file__).with_name("templates")), autoescape=select_autoescape(["html"])
)


def write_comparison(
    comparison: dict[str, Any], reports: tuple[dict[str, Any], dict[str, Any]], out: Path
) -> tuple[Path, Path]:
    """Each variant's own report in `current/` and `candidate/`, and the comparison at the top of `out`."""
    write_report(reports[0], out / "current")
    write_report(reports[1], out / "candidate")
    as_json, as_html = out / "report.json", out / "report.html"
    as_json.write_text(json.dumps({**comparison, "variants": list(reports)}, indent=2) + "\n")
    as_html.write_text(_templates.get_template("compare.html").render(comparison=comparison))
    return as_json, as_html


def with_one_customer(options: EvalOptions, current: EvalOptions) -> EvalOptions:
    """The simulated customer plays both variants with the same model: the current one's (`--customer-model`, or
    the model it tests when that is Claude), so a changed outcome is the service's doing, not the customer's."""
    if options.customer_model or anthropic_model_id(current.model) is None:
        return options
    return replace(options, customer_model=current.model)


def print_side_by_side(comparison: dict[str, Any], stream: TextIO) -> None:
    current, candidate = comparison["current"], comparison["candidate"]
    rows: list[tuple[str, str, str]] = [
        ("", current["label"], candidate["label"]),
        ("pass rate", f"{current['pass_rate']:.3f}", f"{candidate['pass_rate']:.3f}"),
        ("cases passed", f"{current['passed']}/{current['tasks']}", f"{candidate['passed']}/{candidate['tasks']}"),
        ("cost (USD)", f"{current['cost_usd']:.6f}", f"{candidate['cost_usd']:.6f}"),
        ("tokens", str(current["tokens"]), str(candidate["tokens"])),
        (
            "runs on simple",
            f"{current['simple_runs']}/{current['runs']}",
            f"{candidate['simple_runs']}/{candidate['runs']}",
        ),
        ("  moved to default", str(current["escalated_runs"]), str(candidate["escalated_runs"])),
    ]
    for name in ("p50", "p95"):
        seconds = [side["latency_s"][name] for side in (current, candidate)]
        before, after = (f"{s:.3f}" if s is not None else "-" for s in seconds)
        rows.append((f"latency {name} (s)", before, after))
    width = max(len(label) for row in rows for label in row[1:]) + 2
    for name, before, after in rows:
        print(f"{name:<18}{before:>{width}}{after:>{width}}", file=stream)
    for row in comparison["changed"]:
        why = f" ({row['why'][:160]})" if row["why"] and row["direction"] != "better" else ""
        print(f"changed: {row['task_id']}: {row['current']} -> {row['candidate']}{why}", file=stream)
    if not comparison["changed"]:
        print("no case changed outcome", file=stream)


async def evaluate_both(
    options: EvalOptions, variants: tuple[Variant, Variant], settings: Settings, stream: TextIO
) -> tuple[dict[str, Any], dict[str, Any]]:
    cap = CostCap(options.max_cost_usd)  # one cap for the whole comparison
    current = variants[0].applied(options)
    reports = []
    for variant in variants:
        print(f"== {variant.label} ==", file=stream, flush=True)
        reports.append(await evaluate(with_one_customer(variant.applied(options), current), settings, stream, cap))
    return reports[0], reports[1]


def check_variant(variant: Variant, options: EvalOptions, settings: Settings) -> None:
    check_target(variant.applied(options), settings)
    if variant.kind == "prompt":
        try:
            PromptVersions.load(registry, directory=settings.prompts_dir, live=variant.value)
        except ConfigurationError as error:
            raise EvalSetupError(str(error)) from error


def run_compare(options: EvalOptions, settings: Settings, stream: TextIO) -> int:
    """Evaluate both variants, write the comparison, and return the exit code."""
    try:
        if options.baseline is not None:
            raise EvalSetupError("--compare compares two variants with each other; leave out --baseline")
        variants = parse_variants(options.compare or "")
        for variant in variants:  # a variant that cannot run stops the comparison before anything is played
            check_variant(variant, options, settings)
        reports = asyncio.run(evaluate_both(options, variants, settings, stream))
    except (EvalSetupError, OSError, ValueError) as error:
        print(f"support eval: {error}", file=stream)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("support eval: interrupted; no report written", file=stream)
        return EXIT_INTERRUPTED
    comparison = compare_reports(variants[0], reports[0], variants[1], reports[1])
    _, as_html = write_comparison(comparison, reports, options.out)
    print_side_by_side(comparison, stream)
    print(f"comparison: {as_html}", file=stream)
    if comparison["worse"]:
        cases = ", ".join(comparison["worse"])
        print(f"worse: {variants[1].label} fails what {variants[0].label} passed: {cases}", file=stream)
        return EXIT_REGRESSION
    if comparison["cut_short"]:
        print(f"cut short: the cost cap of ${options.max_cost_usd} was reached before every trial ran", file=stream)
        return EXIT_CUT_SHORT
    print(f"not worse: {variants[1].label} passes every case {variants[0].label} passed", file=stream)
    return EXIT_OK
