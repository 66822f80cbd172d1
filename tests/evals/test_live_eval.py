"""`support eval` end to end: the CLI, the eval harness and the real service, with the fake Messages API playing
both the agent's model and the simulated customer's."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cli.eval.command import EXIT_CUT_SHORT, EXIT_OK, EXIT_REGRESSION
from cli.eval.golden import BASELINE_FILE as GOLDEN_BASELINE
from cli.main import main
from testkit.fakes.anthropic_api import TokenUsage, call, http_error, say
from testkit.fakes.offline_brain import OfflineBrainAPI
from tests.evals.live_script import (
    CUSTOMER_LANE,
    ORDER,
    TASK,
    customer,
    declining_customer,
    fake_api,
    script_failing_trial,
    script_passing_trial,
    support_eval,
)


def read_report(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "report.json").read_text())  # type: ignore[no-any-return]


def test_a_tau2_task_passes_with_a_scripted_agent_and_customer(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with fake_api() as api:
        script_passing_trial(api)
        code = support_eval(monkeypatch, api, "--task", TASK, "--out", str(tmp_path))
        api.assert_done()
        customer_requests = [r.body for r in api.requests if api.lane_of(r.body) == CUSTOMER_LANE]
        agent_requests = [r.body for r in api.requests if api.lane_of(r.body) != CUSTOMER_LANE]
    assert code == EXIT_OK, capsys.readouterr().err
    report = read_report(tmp_path)
    [row] = report["per_task"]
    assert (row["task_id"], row["passes"], row["trials"], row["passed_all"]) == (TASK, 1, 1, True)
    assert row["state_match"] == 1 and row["denied_calls"] == 0
    assert (row["confirmations"], row["approvals"]) == (1, 1)  # confirmed by the customer, then approved
    said = [(turn["kind"], turn["run_status"]) for turn in report["trial_results"][0]["conversation"]]
    assert said == [("say", "awaiting_confirmation"), ("confirm", "awaiting_approval"), ("staff", "completed")]
    assert report["totals"]["pass_hat_k"] == {"1": 1.0}
    assert report["totals"]["confirmations_accepted"] == 1 and report["totals"]["approvals_granted"] == 1
    assert report["totals"]["agent_cost_usd"] > 0 and report["totals"]["customer_cost_usd"] > 0
    assert report["totals"]["latency_s"]["p50"] is not None and report["cut_short"] is False
    # The customer played the task's own instructions; the agent saw the customer's words, not its prompt.
    assert "book shelf" in json.dumps(customer_requests[0]["system"])
    assert ORDER in json.dumps(agent_requests[0]["messages"])
    assert all("playing a customer" not in json.dumps(body.get("system")) for body in agent_requests)
    progress = capsys.readouterr().err
    assert f"[1/1] task {TASK} trial 1: PASS" in progress and "pass^1 1.000" in progress


def test_a_task_the_agent_gets_wrong_fails_on_the_final_state(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with fake_api() as api:
        script_failing_trial(api)
        code = support_eval(monkeypatch, api, "--task", TASK, "--out", str(tmp_path))
        api.assert_done()
    assert code == EXIT_OK  # a failing task is a result, not an error; only a baseline turns it into one
    [trial] = read_report(tmp_path)["trial_results"]
    assert trial["passed"] is False and trial["state_match"] is False
    assert any(f"orders.{ORDER}.status" in line for line in trial["mismatch"]), trial["mismatch"]


def test_two_trials_that_pass_once_and_fail_once_give_pass_hat_k(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with fake_api() as api:
        script_passing_trial(api)
        script_failing_trial(api)
        code = support_eval(
            monkeypatch, api, "--task", TASK, "--trials", "2", "--concurrency", "1", "--out", str(tmp_path)
        )
        api.assert_done()
    assert code == EXIT_OK
    report = read_report(tmp_path)
    [row] = report["per_task"]
    assert (row["passes"], row["trials"], row["passed_all"]) == (1, 2, False)
    assert row["pass_hat_k"] == {"1": 0.5, "2": 0.0}
    assert report["totals"]["pass_hat_k"] == {"1": 0.5, "2": 0.0}
    assert [t["passed"] for t in sorted(report["trial_results"], key=lambda t: t["trial"])] == [True, False]


def test_the_cost_cap_stops_the_run_and_the_report_says_so(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    expensive = TokenUsage(input_tokens=1_000_000, output_tokens=10)  # $3 at Sonnet's price: over the cap at once
    with fake_api() as api:
        api.add(customer(expensive), lane=CUSTOMER_LANE)
        code = support_eval(
            monkeypatch,
            api,
            *("--task", TASK, "--task", "113", "--concurrency", "1", "--max-cost-usd", "0.50"),
            *("--out", str(tmp_path)),
        )
        api.assert_done()  # one customer message, and the agent's model was never called
        assert len(api.requests) == 1
    assert code == EXIT_CUT_SHORT
    report = read_report(tmp_path)
    assert report["cut_short"] is True and report["max_cost_usd"] == 0.5
    assert {t["task_id"]: t["status"] for t in report["trial_results"]} == {TASK: "cut_short", "113": "cut_short"}
    assert report["totals"]["cost_usd"] >= 3.0
    assert "cost cap was reached" in (tmp_path / "report.html").read_text()
    assert "cut short" in capsys.readouterr().err


def test_the_baseline_comparison_fails_on_a_regression_and_passes_otherwise(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    baseline, worse, same = tmp_path / "baseline", tmp_path / "worse", tmp_path / "same"
    with fake_api() as api:
        script_passing_trial(api)
        assert support_eval(monkeypatch, api, "--task", TASK, "--out", str(baseline)) == EXIT_OK
        capsys.readouterr()

        script_failing_trial(api)
        against = ("--baseline", str(baseline / "report.json"))
        assert support_eval(monkeypatch, api, "--task", TASK, *against, "--out", str(worse)) == EXIT_REGRESSION
        err = capsys.readouterr().err
        assert f"regression: task {TASK} passed in the baseline and now fails (0/1)" in err
        assert "regression: pass rate 0.000 is below the baseline's 1.000" in err

        script_passing_trial(api)
        assert support_eval(monkeypatch, api, "--task", TASK, *against, "--out", str(same)) == EXIT_OK
        assert "no regression against" in capsys.readouterr().err
        api.assert_done()


def test_without_a_key_the_tau2_tasks_cannot_start(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(SystemExit) as exited:
        main(["eval", "--model", "offline", "--out", str(tmp_path)])
    assert exited.value.code == 2
    assert "need a model to play the customer" in capsys.readouterr().err
    assert not (tmp_path / "report.json").exists()


def test_the_cap_holds_with_trials_running_at_once(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Four trials start together, each spends over the cap on its first customer message; each stops at its
    next turn, and none of the other tasks starts: the overshoot is one turn per trial running."""
    expensive = TokenUsage(input_tokens=1_000_000, output_tokens=10)
    tasks = ["0", "1", "2", "3", "4", "6"]
    with fake_api() as api:
        api.add(*[customer(expensive)] * 4, lane=CUSTOMER_LANE)
        ids = [arg for task in tasks for arg in ("--task", task)]
        code = support_eval(monkeypatch, api, *ids, "--concurrency", "4", "--max-cost-usd", "1", "--out", str(tmp_path))
        api.assert_done()
        assert all(api.lane_of(r.body) == CUSTOMER_LANE for r in api.requests)
    assert code == EXIT_CUT_SHORT
    trials = read_report(tmp_path)["trial_results"]
    assert sorted(t["error"].startswith("not started") for t in trials) == [False] * 4 + [True] * 2
    assert all(t["status"] == "cut_short" for t in trials)


def test_a_simulated_customer_that_fails_fails_its_trial_not_the_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with fake_api() as api:
        api.add(http_error(400, "bad request for the customer", should_retry=False), lane=CUSTOMER_LANE)
        script_passing_trial(api)
        code = support_eval(
            monkeypatch, api, "--task", TASK, "--trials", "2", "--concurrency", "1", "--out", str(tmp_path)
        )
        api.assert_done()
    assert code == EXIT_OK
    report = read_report(tmp_path)
    first, second = sorted(report["trial_results"], key=lambda t: t["trial"])
    assert first["status"] == "error" and "bad request for the customer" in first["error"]
    assert second["passed"] is True
    assert report["totals"]["pass_hat_k"] == {"1": 0.5, "2": 0.0}  # the broken trial counts as a failure
    assert report["totals"]["trials_in_error"] == 1


def test_the_offline_model_can_be_evaluated_with_a_simulated_customer(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with fake_api() as api:
        api.add(customer(), customer(), customer(), customer(), customer(), lane=CUSTOMER_LANE)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", api.base_url)
        customer_model = ("--customer-model", "anthropic:claude-haiku-4-5")
        with pytest.raises(SystemExit) as exited:
            main(["eval", "--model", "offline", *customer_model, "--task", TASK, "--out", str(tmp_path)])
        assert all(api.lane_of(r.body) == CUSTOMER_LANE for r in api.requests)  # the agent called no API
        assert all(r.body["model"] == "claude-haiku-4-5" for r in api.requests)
    assert exited.value.code == EXIT_OK
    report = read_report(tmp_path)
    [trial] = report["trial_results"]
    assert report["model"] == "offline" and trial["status"] == "finished" and trial["error"] is None
    assert trial["agent_cost_usd"] == 0 and trial["customer_cost_usd"] > 0


def test_an_unknown_task_id_stops_the_run_before_it_starts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with fake_api() as api:
        code = support_eval(monkeypatch, api, "--task", TASK, "--task", "5", "--out", str(tmp_path))
        assert api.requests == []
    assert code == 2 and "no task has the id(s) 5" in capsys.readouterr().err


GOLDEN_CASES = ["another_customers_order", "cancel_needs_agent_approval_approved", "are_you_a_bot"]


def test_golden_cases_run_on_the_offline_model_without_a_key(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The golden cases need no simulated customer; their verdicts agree with the golden suite's own baseline."""
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    picked = [arg for name in GOLDEN_CASES for arg in ("--task", name)]
    with pytest.raises(SystemExit) as exited:
        main(["eval", "--model", "offline", "--tasks", "golden", *picked, "--out", str(tmp_path)])
    assert exited.value.code == EXIT_OK, capsys.readouterr().err
    report = read_report(tmp_path)
    rows = {row["task_id"]: row for row in report["per_task"]}
    assert set(rows) == set(GOLDEN_CASES)
    # cases the golden suite's committed baseline records as passing on the offline model pass here too
    baseline = json.loads(GOLDEN_BASELINE.read_text())["offline"]
    assert all(rows[name]["passed_all"] for name in GOLDEN_CASES if baseline[name]["passed"])
    approved = next(row for row in report["per_task"] if row["task_id"] == "cancel_needs_agent_approval_approved")
    assert approved["approvals"] == 1 and approved["confirmations"] == 1
    assert report["tasks"] == "golden" and report["totals"]["cost_usd"] == 0  # the offline model costs nothing


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (None, "cannot read the baseline"),
        ("{not json", "is not a report.json from support eval"),
        ('{"totals": {}}', "is not a report.json from support eval"),
        ('{"tasks": "golden", "totals": {"pass_rate": 1.0}, "per_task": []}', "is a report on 'golden' tasks"),
    ],
)
def test_a_baseline_that_cannot_be_used_stops_the_run_before_it_starts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, says: str
) -> None:
    baseline = tmp_path / "baseline.json"
    if content is not None:
        baseline.write_text(content)
    with fake_api() as api:
        code = support_eval(monkeypatch, api, "--task", TASK, "--baseline", str(baseline), "--out", str(tmp_path))
        assert api.requests == []
    assert code == 2 and says in capsys.readouterr().err
    assert not (tmp_path / "report.json").exists()


def test_a_customer_who_declines_the_confirmation_leaves_the_store_unchanged(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with fake_api() as api:
        api.add(declining_customer(), declining_customer(), declining_customer(), lane=CUSTOMER_LANE)
        api.add(
            call("cancel_pending_order", {"order_id": ORDER, "reason": "ordered by mistake"}),
            say("All right, I have left the order as it is."),
        )
        code = support_eval(monkeypatch, api, "--task", TASK, "--out", str(tmp_path))
        api.assert_done()
    assert code == EXIT_OK
    [trial] = read_report(tmp_path)["trial_results"]
    assert (trial["confirmations"], trial["confirmations_accepted"], trial["approvals"]) == (1, 0, 0)
    assert trial["passed"] is False  # the task wanted the order cancelled
    assert any(f"orders.{ORDER}.status: expected 'cancelled', found 'pending'" == m for m in trial["mismatch"])


def test_a_hand_off_ends_the_conversation_and_a_task_that_expects_one_passes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Task 50's customer wants a cancellation undone, which no tool can do: the expected action is a hand-off,
    and the store must stay as it was."""
    with fake_api() as api:
        api.add(customer(), lane=CUSTOMER_LANE)  # one message; the hand-off ends the conversation
        api.add(call("transfer_to_human_agents", {"summary": "Wants a cancelled order restored."}))
        code = support_eval(monkeypatch, api, "--task", "50", "--out", str(tmp_path))
        api.assert_done()
    assert code == EXIT_OK
    [trial] = read_report(tmp_path)["trial_results"]
    assert trial["passed"] is True and trial["agent_turns"] == 1


def test_golden_cases_run_on_a_claude_model_through_the_messages_api(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The Messages API here answers with the offline model's decisions (never presented as Claude's): what is
    tested is the path, the SDK and adapter the command builds, priced, and judged as that model's own work."""
    case = "cancel_needs_agent_approval_approved"
    with OfflineBrainAPI() as api:
        code = support_eval(monkeypatch, api, "--tasks", "golden", "--task", case, "--out", str(tmp_path))
        api.assert_done()
        assert api.requests  # every answer came through the API, none from a fallback
    assert code == EXIT_OK, capsys.readouterr().err
    [row] = read_report(tmp_path)["per_task"]
    assert row["passed_all"] is True and row["cost_usd"] > 0 and row["approvals"] == 1
