"""The report's arithmetic and the baseline rule, on hand-made trial results whose answers are known."""

from __future__ import annotations

import pytest

from evals.baseline import TOLERANCE, regressions
from evals.report import TrialResult, build_report, pass_hat_k, percentile
from evals.tau2 import differences, load_tasks, seed_store


def report_of(outcomes: dict[str, list[bool]]) -> dict[str, object]:
    results = [
        TrialResult(task, trial, passed=passed, state_match=passed, latencies_s=[float(trial)])
        for task, trials in outcomes.items()
        for trial, passed in enumerate(trials, start=1)
    ]
    trials = max(len(t) for t in outcomes.values())
    return build_report(results, model="m", tasks="t", trials=trials, max_cost_usd=None, cut_short=False)


def test_pass_hat_k_is_the_chance_that_k_drawn_trials_all_pass() -> None:
    assert pass_hat_k(3, 4, 1) == 0.75
    assert pass_hat_k(3, 4, 2) == pytest.approx(3 / 6)  # C(3,2) / C(4,2)
    assert pass_hat_k(3, 4, 4) == 0.0 and pass_hat_k(4, 4, 4) == 1.0


def test_the_totals_average_pass_hat_k_over_tasks() -> None:
    report = report_of({"a": [True, True, True], "b": [True, False, True], "c": [False, False, False]})
    totals = report["totals"]
    assert isinstance(totals, dict)
    assert totals["pass_hat_k"] == pytest.approx({"1": 5 / 9, "2": (1 + 1 / 3) / 3, "3": 1 / 3})


def test_percentiles_are_measured_values() -> None:
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 50), percentile(values, 95), percentile(values, 99)) == (50.0, 95.0, 99.0)
    assert percentile([0.2], 99) == 0.2 and percentile([], 50) is None


def test_a_small_dip_within_the_tolerance_is_not_a_regression_but_a_task_that_stopped_passing_is() -> None:
    twenty = {str(i): [True] for i in range(20)}
    baseline = report_of(twenty)
    one_fails = report_of({**twenty, "0": [False]})  # pass rate 0.95: within the tolerance, but task 0 regressed
    assert TOLERANCE >= 1 / 20
    assert regressions(one_fails, baseline) == ["task 0 passed in the baseline and now fails (0/1)"]
    better = report_of({**twenty, "new": [False]})  # a task the baseline never had is not compared
    assert regressions(better, baseline) == []
    assert regressions(baseline, report_of({**twenty, "0": [False]})) == []  # fixed is not worse


def test_expected_state_follows_the_task_and_differences_name_the_path() -> None:
    [task] = [t for t in load_tasks() if t.id == "88"]
    assert task.customer_id == "daiki_silva_2903"
    expected = task.expected_account(seed_store())
    assert expected["orders"]["#W8835847"]["status"] == "cancelled"
    unchanged = {**expected, "orders": {**expected["orders"], "#W8835847": seed_store()["orders"]["#W8835847"]}}
    found = differences(expected, unchanged)
    assert "orders.#W8835847.status: expected 'cancelled', found 'pending'" in found
    assert differences(expected, expected) == []


def test_every_train_task_has_a_customer() -> None:
    tasks = load_tasks()
    assert len(tasks) == 74 and all(t.customer_id in seed_store()["users"] for t in tasks)


def test_a_golden_case_result_becomes_a_trial() -> None:
    from cli.eval.golden import CaseResult
    from cli.eval.golden_trials import trial_of
    from evals.transcript import HeldCallRecord, ToolCallRecord, Transcript

    held = {"tool": "cancel_pending_order", "arguments": {}, "approver_role": "agent", "amount": 1.0, "rule": "r"}
    transcript = Transcript(
        case="c",
        model="offline",
        customer="x",
        tool_calls=[ToolCallRecord(run_id="r", tool="issue_refund", decision="deny")],
        held_calls=[
            HeldCallRecord(kind="confirmation", status="executed", **held),
            HeldCallRecord(kind="approval", status="rejected", **held),
        ],
    )
    failed = CaseResult(name="c", passed=False, failures={"StoreState": "orders.#W1.status is pending"}, cost_usd=0.5)
    assert trial_of(failed, 2).status == "error"  # no transcript: the case could not be played
    played = trial_of(
        CaseResult(name="c", passed=False, failures=failed.failures, cost_usd=0.5, transcript=transcript), 2
    )
    assert (played.passed, played.state_match, played.trial, played.cost_usd) == (False, False, 2, 0.5)
    assert (played.denied_calls, played.confirmations, played.confirmations_accepted) == (1, 1, 1)
    assert (played.approvals, played.approvals_granted) == (1, 0)
    assert played.mismatch == ["StoreState: orders.#W1.status is pending"]


def test_the_report_names_where_the_answers_came_from() -> None:
    def built(model: str, model_api: str | None) -> dict[str, object]:
        return build_report(
            [], model=model, tasks="t", trials=1, max_cost_usd=None, cut_short=False, model_api=model_api
        )

    assert built("offline", None)["stand_in"] is False
    assert built("anthropic:claude-x", "https://api.anthropic.com")["stand_in"] is False
    stand_in = built("anthropic:claude-x", "http://127.0.0.1:8123")
    assert stand_in["stand_in"] is True and stand_in["model_api"] == "http://127.0.0.1:8123"
