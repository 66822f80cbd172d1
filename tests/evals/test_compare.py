"""`support eval --compare`: two versions of the service on the same golden cases, side by side, through the real
SDK and the fake Messages API; the exit code follows whether the candidate breaks a case the current one passed.

What answers is the offline model's rules behind the fake Messages API (`testkit.fakes.offline_brain`), never
Claude. Routing is compared with that brain as it is (both sides answer alike; what differs is the model each call
names, and so its price). Prompt versions are compared with one scripted reaction to the prompt added
(`testkit.fakes.instructed_brain`): without the instruction to answer policy questions from the help centre, the
brain answers them unsourced. That is the only way the offline rules can tell two prompts apart, and it is said
here so that nobody reads the difference as a model's."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from agent.routing.prompt_versions import packaged_directory
from cli.eval.command import EXIT_OK, EXIT_REGRESSION, EXIT_USAGE
from testkit.fakes.instructed_brain import HELP_CENTRE_INSTRUCTION, InstructedBrainAPI, system_text
from testkit.fakes.offline_brain import OfflineBrainAPI
from tests.evals.live_script import support_eval

HELP_CENTRE_CASES = (
    "return_policy_question",
    "refund_timing_question",
    "shipping_abroad_question",
    "warranty_question",
    "cancel_after_shipping_question",
    "gift_card_question",
    "privacy_question",
    "policy_question_then_action",
)
OTHER_CASES = ("status_of_shipped_order", "cancel_small_order_confirmed")


def read(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "report.json").read_text())  # type: ignore[no-any-return]


def without_the_help_centre_rule(root: Path) -> Path:
    """The packaged v1, and v2: the same prompt less its one instruction about answering from the help centre."""
    shutil.copytree(packaged_directory() / "v1", root / "v1")
    shutil.copytree(root / "v1", root / "v2")
    system = (root / "v1" / "system.md").read_text()
    rule = next(line for line in system.splitlines(keepends=True) if HELP_CENTRE_INSTRUCTION in line)
    (root / "v2" / "system.md").write_text(system.replace(rule, ""))
    return root


def picked(*cases: str) -> list[str]:
    return [arg for case in cases for arg in ("--task", case)]


def test_two_prompt_versions_one_instruction_apart_show_the_changed_cases_and_the_exit_code_follows(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SUPPORT_PROMPTS_DIR", str(without_the_help_centre_rule(tmp_path / "prompts")))
    out = tmp_path / "v1-then-v2"
    with InstructedBrainAPI() as api:
        code = support_eval(
            monkeypatch,
            api,
            *("--tasks", "golden", "--compare", "prompt=v1,prompt=v2", "--out", str(out)),
            *picked(*HELP_CENTRE_CASES, *OTHER_CASES),
        )
        api.assert_done()
        systems = {HELP_CENTRE_INSTRUCTION in system_text(r.body) for r in api.requests}
        assert systems == {True, False} and api.unsourced >= len(HELP_CENTRE_CASES)
    printed = capsys.readouterr().err
    assert code == EXIT_REGRESSION, printed
    comparison = read(out)
    assert (comparison["current"]["label"], comparison["candidate"]["label"]) == ("prompt=v1", "prompt=v2")
    assert sorted(comparison["worse"]) == sorted(HELP_CENTRE_CASES)
    assert {(row["current"], row["candidate"], row["direction"]) for row in comparison["changed"]} == {
        ("passed", "failed", "worse")
    }
    assert all("search_help_centre" in row["why"] for row in comparison["changed"])
    assert comparison["current"]["passed"] == len(HELP_CENTRE_CASES) + len(OTHER_CASES)
    assert comparison["candidate"]["passed"] == len(OTHER_CASES)
    # Each version's own report is written too, and each run recorded the version it was answered with.
    assert read(out / "current")["model"] == read(out / "candidate")["model"] == "anthropic:claude-sonnet-4-6"
    page = (out / "report.html").read_text()
    assert "prompt=v1 (current) and prompt=v2 (candidate)" in page
    assert all(case in page for case in HELP_CENTRE_CASES)
    assert 'href="current/report.html"' in page and "on both sides came\n  from a stand-in for the Messages API" in page
    assert "changed: return_policy_question: passed -> failed" in printed and "worse: prompt=v2 fails" in printed

    # The other way round, the candidate fixes those cases and breaks none: the exit code says so.
    back = tmp_path / "v2-then-v1"
    with InstructedBrainAPI() as api:
        code = support_eval(
            monkeypatch,
            api,
            *("--tasks", "golden", "--compare", "prompt=v2,prompt=v1", "--out", str(back)),
            *picked("return_policy_question", "status_of_shipped_order"),
        )
    assert code == EXIT_OK, capsys.readouterr().err
    [fixed] = read(back)["changed"]
    assert (fixed["task_id"], fixed["direction"]) == ("return_policy_question", "better")


def test_routing_on_costs_less_than_off_on_the_golden_cases_and_passes_the_same_ones(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every golden case, with routing off (Claude Sonnet 4.6 answers every turn) and on (Claude Haiku 4.5 the
    lookups and help-centre questions). Costs are the built-in prices times the token counts the fake reports
    (no prompt cache modelled: `benchmarks/routing_cost.py` prints the figures with it, where Haiku 4.5 cannot
    cache the service's prefix and routing to it costs more)."""
    with OfflineBrainAPI() as api:
        code = support_eval(
            monkeypatch,
            api,
            *("--tasks", "golden", "--compare", "routes=off,routes=simple=anthropic:claude-haiku-4-5"),
            *("--out", str(tmp_path)),
        )
        api.assert_done()
        named = {r.body["model"] for r in api.requests}
    printed = capsys.readouterr().err
    assert code == EXIT_OK, printed
    comparison = read(tmp_path)
    off, on = comparison["current"], comparison["candidate"]
    print(
        f"golden cases, routing off: ${off['agent_cost_usd']:.4f}, {off['passed']}/{off['tasks']} passed; "
        f"on: ${on['agent_cost_usd']:.4f}, {on['passed']}/{on['tasks']} passed, "
        f"{on['simple_runs']}/{on['runs']} runs on simple, {on['escalated_runs']} moved to default"
    )
    assert named == {"claude-sonnet-4-6", "claude-haiku-4-5"}
    assert on["model"] == "anthropic:claude-sonnet-4-6 (simple route: anthropic:claude-haiku-4-5)"
    assert comparison["changed"] == [] and on["passed"] == off["passed"] == off["tasks"] >= 60
    assert on["agent_cost_usd"] < off["agent_cost_usd"]
    assert off["simple_runs"] == 0 and on["simple_runs"] >= 15
    assert "no case changed outcome" in printed


@pytest.mark.parametrize(
    ("compare", "extra", "said"),
    [
        ("prompt=v1", (), "takes two variants"),
        ("prompt=v1,flavour=v2", (), "is not a variant"),
        ("prompt=v1,prompt=v1", (), "both variants are prompt=v1"),
        ("prompt=v1,prompt=v7", (), "names no prompt version"),
        ("model=offline,model=openai:llama", (), "must be offline or anthropic"),
        ("routes=off,routes=simple=offline+offline", (), "one model per route"),
        ("prompt=v1,prompt=v2", ("--baseline", "x.json"), "leave out --baseline"),
    ],
)
def test_a_comparison_that_cannot_run_says_why_before_playing_anything(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    compare: str,
    extra: tuple[str, ...],
    said: str,
) -> None:
    monkeypatch.setenv("SUPPORT_PROMPTS_DIR", str(without_the_help_centre_rule(tmp_path / "prompts")))
    with OfflineBrainAPI() as api:
        code = support_eval(monkeypatch, api, "--tasks", "golden", "--compare", compare, *extra)
        assert api.requests == []
    assert code == EXIT_USAGE
    assert said in capsys.readouterr().err
