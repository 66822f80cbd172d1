"""The golden suite as CI runs it: every golden case on one model, judged, and compared with a committed baseline.

The baseline (`fixtures/evals/baseline.json`) records, per model, which cases passed, the share of each case's
checks that held, and why the others failed. A run fails CI only on a regression: a check that held in the
baseline fails now (so a case that passed fails, or a failing case fails in a new way), or a case the baseline
does not know (regenerate the baseline to accept it). A case that now passes but failed before is
reported as fixed, so the baseline can be raised. `scripts/golden_eval.py --write-baseline` regenerates it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic_evals.reporting import EvaluationReport

from cli.eval.harness import StoreTemplate, Target, play
from evals.cases import GOLDEN_DIR, CaseInfo, Conversation, GoldenDataset
from evals.datasets import load_cases, load_golden
from evals.evaluators import DEFAULT_EVALUATORS
from evals.transcript import Transcript

BASELINE_FILE = GOLDEN_DIR / "baseline.json"


@dataclass(frozen=True, slots=True)
class CaseResult:
    """One case's verdict: it passes when every check on it holds."""

    name: str
    passed: bool
    failures: dict[str, str] = field(default_factory=dict)
    """The checks that did not hold, each with what was seen instead."""
    checks: int = 0
    """How many checks the case has (its own and the suite's)."""
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    latency_s: float = 0.0
    transcript: Transcript | None = None
    """The played case, for reports that need more than the verdict (`support eval --tasks golden`)."""

    @property
    def score(self) -> float:
        """The share of the case's checks that held."""
        return round(1 - len(self.failures) / self.checks, 3) if self.checks else 0.0

    def to_json(self) -> dict[str, Any]:
        return {"passed": self.passed, "score": self.score, "failures": self.failures}


@dataclass(frozen=True, slots=True)
class GoldenReport:
    model: str
    results: dict[str, CaseResult]

    @property
    def passed(self) -> int:
        return sum(r.passed for r in self.results.values())

    def summary(self) -> str:
        return f"{self.model}: {self.passed}/{len(self.results)} golden cases pass"

    def to_json(self) -> dict[str, Any]:
        return {name: self.results[name].to_json() for name in sorted(self.results)}


@dataclass(frozen=True, slots=True)
class Comparison:
    regressions: list[str]
    """`case: why`, for each case where a check that held in the baseline fails now (or that the baseline does
    not know)."""
    fixed: list[str]

    def explain(self) -> str:
        lines = [f"{len(self.regressions)} regression(s) against the golden baseline:"]
        lines += [f"  - {line}" for line in self.regressions]
        if self.fixed:
            lines.append(f"fixed since the baseline (raise it): {', '.join(self.fixed)}")
        return "\n".join(lines)


def golden_dataset(directory: Path = GOLDEN_DIR, *, cases: list[Path] | None = None) -> GoldenDataset:
    """The golden cases (or those of the `cases` files and folders instead, e.g. what the desk's review wrote),
    with the checks that hold for every case added to each."""
    dataset = load_cases(cases) if cases else load_golden(directory)
    for evaluator in DEFAULT_EVALUATORS:
        dataset.add_evaluator(evaluator)
    return dataset


async def run_golden(
    target: Target,
    *,
    store: StoreTemplate,
    dataset: GoldenDataset | None = None,
    concurrency: int = 8,
) -> GoldenReport:
    """Play and judge every golden case on `target`, `concurrency` cases at a time, each on its own store."""
    dataset = dataset or golden_dataset()
    by_inputs = {id(c.inputs): c.name or "" for c in dataset.cases}

    async def task(conversation: Conversation) -> Transcript:
        return await play(by_inputs.get(id(conversation), ""), conversation, target=target, store=store)

    report: EvaluationReport[Conversation, Transcript, CaseInfo] = await dataset.evaluate(
        task, name=target.label, max_concurrency=concurrency, progress=False
    )
    results: dict[str, CaseResult] = {}
    for case in report.cases:
        failures = {name: result.reason or "failed" for name, result in case.assertions.items() if not result.value}
        failures |= {f.name: f"evaluator raised: {f.error_message}" for f in case.evaluator_failures}
        transcript = case.output
        results[case.name] = CaseResult(
            name=case.name,
            passed=not failures,
            failures=failures,
            checks=len(case.assertions) + len(case.evaluator_failures),
            input_tokens=transcript.input_tokens,
            output_tokens=transcript.output_tokens,
            cost_usd=transcript.cost_usd,
            latency_s=transcript.latency_s,
            transcript=transcript,
        )
    for failure in report.failures:
        results[failure.name] = CaseResult(
            name=failure.name, passed=False, failures={"task": failure.error_message}, checks=1
        )
    return GoldenReport(model=target.label, results=results)


def load_baseline(path: Path = BASELINE_FILE) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.exists() else {}


def compare(report: GoldenReport, baseline: dict[str, Any], *, model_key: str) -> Comparison:
    """Regressions of `report` against the baseline's section for `model_key`."""
    known: dict[str, Any] = baseline.get(model_key, {})
    regressions: list[str] = []
    fixed: list[str] = []
    for name in sorted(report.results):
        result = report.results[name]
        before = known.get(name)
        if before is None:
            regressions.append(f"{name}: not in the baseline (passes: {result.passed}); regenerate it")
        elif broken := sorted(set(result.failures) - set(before.get("failures", {}))):
            # A check that held in the baseline fails now: in a case that passed, or one that already failed
            # for other reasons (it must not quietly get worse).
            why = "; ".join(f"{check}: {result.failures[check]}" for check in broken)
            regressions.append(f"{name}: {why}")
        elif not before["passed"] and result.passed:
            fixed.append(name)
    return Comparison(regressions=regressions, fixed=fixed)


def write_baseline(reports: dict[str, GoldenReport], path: Path = BASELINE_FILE) -> None:
    """Record `reports` (by model key) as the new baseline; other models' sections are kept."""
    baseline = load_baseline(path)
    for key, report in reports.items():
        baseline[key] = report.to_json()
    path.write_text(json.dumps(baseline, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
