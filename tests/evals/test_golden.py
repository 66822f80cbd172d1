"""The golden conversations in CI: both models, compared with the committed baseline; and proof the suite bites.

Regenerate the baseline after an intended change: `./dev python scripts/golden_eval.py --write-baseline`.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from agent.models.base import ModelRequest, ModelResponse, TextBlock, TextSink
from agent.models.offline import OfflineModel
from cli.eval.golden import CaseResult, GoldenReport, compare, golden_dataset, load_baseline, run_golden
from cli.eval.harness import StoreTemplate, Target
from evals.datasets import load_golden
from policies.config import DEFAULT_POLICY_FILE
from testkit.eval_models import CI_MODELS, ci_target

COVERAGE = {
    "get_customer_profile", "get_order_details", "get_product_details", "list_product_types",
    "cancel_pending_order", "modify_pending_order_address", "modify_pending_order_payment",
    "modify_pending_order_items", "return_delivered_order_items", "exchange_delivered_order_items",
    "modify_customer_address", "issue_refund", "transfer_to_human_agents", "search_help_centre",
    "allow", "deny", "needs_approval:agent", "needs_approval:supervisor", "confirm", "decline", "handoff",
    "multi_intent", "follow_up", "small_talk", "anger", "injection", "non_english", "help_centre", "other_customer",
}  # fmt: skip


def test_the_suite_has_sixty_cases_covering_every_tool_outcome_and_kind() -> None:
    cases = load_golden().cases
    assert len(cases) >= 60
    covered = {tag for case in cases if case.metadata for tag in case.metadata.covers}
    assert covered >= COVERAGE, f"not covered: {sorted(COVERAGE - covered)}"


_REPORTS: dict[str, GoldenReport] = {}
"""Each CI model's run of the suite, played once for the tests that read it."""


async def golden_report(model_key: str, store: StoreTemplate) -> GoldenReport:
    if model_key not in _REPORTS:
        with ci_target(model_key) as target:
            _REPORTS[model_key] = await run_golden(target, store=store)
    return _REPORTS[model_key]


@pytest.mark.parametrize("model_key", CI_MODELS)
async def test_no_golden_case_regresses(model_key: str, store: StoreTemplate) -> None:
    report = await golden_report(model_key, store)
    print(report.summary())
    comparison = compare(report, load_baseline(), model_key=model_key)
    assert not comparison.regressions, comparison.explain()


@pytest.mark.parametrize("model_key", CI_MODELS)
async def test_no_answer_of_the_golden_cases_is_flagged(model_key: str, store: StoreTemplate) -> None:
    """The grounding check on every answer of the offline model's golden conversations: each states only what
    its run saw, so a flag here is the check being wrong (or an answer inventing a fact)."""
    report = await golden_report(model_key, store)
    flagged = {
        name: flags
        for name, result in report.results.items()
        if result.transcript is not None
        for flags in [[flag for run in result.transcript.runs for flag in run.flags]]
        if flags
    }
    assert len(report.results) >= 60
    assert flagged == {}


def _all_passing(report: GoldenReport) -> dict[str, Any]:
    """A baseline in which every case of `report` passed, so any failure now counts as a regression."""
    return {"offline": {name: {"passed": True, "failures": {}} for name in report.results}}


def _policy_with(tmp_path: Path, old: str, new: str) -> str:
    text = DEFAULT_POLICY_FILE.read_text()
    assert old in text
    path = tmp_path / "broken-policy.toml"
    path.write_text(text.replace(old, new, 1))
    return str(path)


async def test_a_raised_approval_threshold_is_reported_as_regressions(tmp_path: Path, store: StoreTemplate) -> None:
    """A rule broken on purpose (nothing under $999 needs a person any more) fails the cases that expect an
    approval, and the comparison names them."""
    policy = _policy_with(tmp_path, 'auto = "100.00"', 'auto = "999.00"')
    dataset = golden_dataset()
    dataset.cases = [
        c for c in dataset.cases if c.name in {"cancel_needs_agent_approval_approved", "return_needs_agent"}
    ]
    report = await run_golden(Target(settings={"SUPPORT_POLICY_FILE": policy}), store=store, dataset=dataset)
    comparison = compare(report, _all_passing(report), model_key="offline")
    assert sorted(line.split(":")[0] for line in comparison.regressions) == sorted(report.results)
    assert "HeldCall" in comparison.explain()


async def test_dropping_the_confirmation_requirement_is_caught(tmp_path: Path, store: StoreTemplate) -> None:
    policy = _policy_with(tmp_path, 'tools = ["*"]', "tools = []")
    dataset = golden_dataset()
    dataset.cases = [c for c in dataset.cases if c.name == "cancel_small_order_declined"]
    report = await run_golden(Target(settings={"SUPPORT_POLICY_FILE": policy}), store=store, dataset=dataset)
    result = report.results["cancel_small_order_declined"]
    assert not result.passed
    assert "StoreUnchanged" in result.failures, json.dumps(result.failures)


def test_the_comparison_flags_new_failures_unknown_cases_and_reports_fixes() -> None:
    report = GoldenReport(
        model="offline",
        results={
            "was_passing": CaseResult("was_passing", False, {"ReplySays": "none of ['cancelled']"}, checks=4),
            "failing_worse": CaseResult(
                "failing_worse", False, {"NoInternalIds": "x", "StoreUnchanged": "y"}, checks=4
            ),
            "failing_same": CaseResult("failing_same", False, {"NoInternalIds": "x"}, checks=4),
            "now_passing": CaseResult("now_passing", True, {}, checks=4),
            "brand_new": CaseResult("brand_new", True, {}, checks=4),
        },
    )
    baseline = {
        "offline": {
            "was_passing": {"passed": True, "failures": {}},
            "failing_worse": {"passed": False, "failures": {"NoInternalIds": "x"}},
            "failing_same": {"passed": False, "failures": {"NoInternalIds": "x"}},
            "now_passing": {"passed": False, "failures": {"NoInternalIds": "x"}},
        }
    }
    comparison = compare(report, baseline, model_key="offline")
    assert comparison.regressions == [
        "brand_new: not in the baseline (passes: True); regenerate it",
        "failing_worse: StoreUnchanged: y",
        "was_passing: ReplySays: none of ['cancelled']",
    ]
    assert comparison.fixed == ["now_passing"]
    assert report.results["failing_worse"].score == 0.5


class LeakyOfflineModel(OfflineModel):
    """The offline model with a broken reply template: it adds the store's payment-method id to every answer."""

    async def complete(self, request: ModelRequest, *, on_text: TextSink | None = None) -> ModelResponse:
        response = await super().complete(request, on_text=on_text)
        if not response.text:
            return response
        return replace(response, content=(*response.content, TextBlock(" (paid with gift_card_1725971)")))


async def test_a_model_that_leaks_internal_ids_is_reported_as_regressions(store: StoreTemplate) -> None:
    dataset = golden_dataset()
    dataset.cases = [c for c in dataset.cases if c.name in {"how_are_you", "return_policy_question"}]
    report = await run_golden(Target(instance=LeakyOfflineModel()), store=store, dataset=dataset)
    comparison = compare(report, _all_passing(report), model_key="offline")
    assert len(comparison.regressions) == 2, comparison.explain()
    assert all("NoInternalIds: internal ids shown: ['gift_card_1725971']" in line for line in comparison.regressions)
