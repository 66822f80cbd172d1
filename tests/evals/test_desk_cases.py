"""A conversation the desk's review adds to the golden cases is a case `support eval` plays: the file is written
in the configured folder under a name of the desk's making (or downloaded without one), holds the customer's
turns, the store data the conversation touched and the reviewer's correction, and nothing that names the service's
own records; loaded by the evaluation's own loader, it passes on the offline model when the reply meets the
correction and fails when it does not."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.errors import ConfigurationError as AgentConfigurationError
from api.errors import ConfigurationError
from cli.eval.golden import golden_dataset, run_golden
from cli.eval.harness import StoreTemplate, Target
from cli.main import main
from evals.datasets import load_cases
from testkit import fixture_data as data
from testkit.confirm import answer
from testkit.desk import DeskUser, sign_in
from testkit.service import ServiceClient, bearer, running_service

JAMES = "james_li_5688"
TRACKING = "357962501027"
"""The tracking number of James's order #W2611340 in the seed store: the offline model's status reply gives it."""


async def reviewed(service: ServiceClient) -> tuple[str, str, DeskUser]:
    conversation = await service.new_conversation(JAMES)
    said = await service.say(JAMES, conversation, "Where is my order #W2611340?")
    assert said.status_code == 200, said.text
    return conversation, said.json()["run"]["id"], await sign_in(service.http, "agent_alice", "agent")


async def export(service: ServiceClient, user: DeskUser, conversation: str, run: str, **fields: Any) -> Any:
    form: dict[str, Any] = {"csrf": user.csrf, "run_id": run, "must_say": "", "must_not_say": "", "note": ""}
    form.update(fields)
    return await service.http.post(f"/desk/conversations/{conversation}/golden-case", data=form, headers=user.headers)


async def test_a_reviewed_run_becomes_a_case_that_passes_when_the_reply_meets_the_correction(
    sqlite_url: str, tmp_path: Path, store: StoreTemplate
) -> None:
    folder = tmp_path / "reviewed"
    folder.mkdir()
    async with running_service(sqlite_url, SUPPORT_GOLDEN_CASES_DIR=str(folder)) as service:
        conversation, run, alice = await reviewed(service)
        kept = await export(
            service,
            alice,
            conversation,
            run,
            must_call=["get_order_details"],
            must_not_call=["cancel_pending_order"],
            must_say=TRACKING,
            must_not_say="refund (sent)\n",
            note="It should give the tracking number",
        )
        assert kept.status_code == 303, kept.text
        name = re.search(r"saved=(reviewed_[0-9_a-f]+)", kept.headers["location"])
        assert name is not None
        page = await service.http.get(kept.headers["location"], headers=alice.headers)
        assert f"{name.group(1)}.yaml" in page.text

        impossible = await export(service, alice, conversation, run, must_not_call=["get_order_details"])
        assert impossible.status_code == 303

    written = sorted(folder.iterdir())
    assert len(written) == 2 and all(re.fullmatch(r"reviewed_\d{8}_\d{6}_[0-9a-f]{6}\.yaml", p.name) for p in written)
    text = (folder / f"{name.group(1)}.yaml").read_text()
    assert conversation not in text and run not in text and "agent_alice" not in text
    case = yaml.safe_load(text)["cases"][0]
    assert case["inputs"]["customer"] == JAMES
    assert case["inputs"]["turns"] == [{"say": "Where is my order #W2611340?"}]
    assert case["inputs"]["store"]["orders"]["#W2611340"] == data.order("#W2611340")  # as the conversation read it
    user = data.user(JAMES)
    assert user["email"] not in text and user["name"]["last_name"] not in text
    assert "It should give the tracking number" in case["metadata"]["about"]

    dataset = golden_dataset(cases=[folder])
    report = await run_golden(Target(model="offline"), store=store, dataset=dataset, concurrency=2)
    passed = {result.name: result for result in report.results.values()}
    assert passed[name.group(1)].passed, passed[name.group(1)].failures
    (failed,) = [r for n, r in passed.items() if n != name.group(1)]
    assert not failed.passed and "ToolNotCalled(get_order_details)" in failed.failures


async def test_support_eval_plays_a_folder_of_reviewed_cases(sqlite_url: str, tmp_path: Path) -> None:
    folder = tmp_path / "reviewed"
    folder.mkdir()
    async with running_service(sqlite_url, SUPPORT_GOLDEN_CASES_DIR=str(folder)) as service:
        conversation, run, alice = await reviewed(service)
        kept = await export(service, alice, conversation, run, must_call=["get_order_details"], must_say=TRACKING)
        assert kept.status_code == 303
    out = tmp_path / "report"
    assert await support_eval("--cases", str(folder), "--out", str(out)) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["totals"]["tasks"] == 1 and report["totals"]["pass_rate"] == 1.0
    assert await support_eval("--cases", str(tmp_path / "nowhere"), "--out", str(out)) == 2


async def support_eval(*args: str) -> int | str | None:
    """`support eval --model offline --tasks golden ...` as typed, in a thread (it runs its own event loop)."""

    def run() -> int | str | None:
        try:
            main(["eval", "--model", "offline", "--tasks", "golden", *args])
        except SystemExit as done:
            return done.code
        return None

    return await asyncio.to_thread(run)


async def test_without_a_folder_the_case_is_downloaded(sqlite_url: str) -> None:
    async with running_service(sqlite_url) as service:
        conversation, run, alice = await reviewed(service)
        download = await export(service, alice, conversation, run, must_say=TRACKING)
        assert download.status_code == 200
        assert download.headers["content-type"].startswith("application/yaml")
        assert re.fullmatch(
            r'attachment; filename="reviewed_\d{8}_\d{6}_[0-9a-f]{6}\.yaml"', download.headers["content-disposition"]
        )
        assert yaml.safe_load(download.text)["cases"][0]["evaluators"] == [{"ReplySays": {"any_of": [TRACKING]}}]


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({}, "Say at least one thing that must or must not happen"),
        ({"must_call": ["drop_database"]}, "no tool is called"),
        ({"must_call": ["get_order_details"], "must_not_call": ["get_order_details"]}, "both required and forbidden"),
        ({"must_say": "\n".join(f"w{i}" for i in range(21))}, "at most 20 lines"),
        ({"must_say": "x" * 201}, "at most 200 characters"),
        ({"must_say": "a\x00b"}, "NUL"),
    ],
)
async def test_a_correction_that_cannot_make_a_case_is_said_on_the_review(
    sqlite_url: str, tmp_path: Path, fields: dict[str, Any], problem: str
) -> None:
    folder = tmp_path / "reviewed"
    folder.mkdir()
    async with running_service(sqlite_url, SUPPORT_GOLDEN_CASES_DIR=str(folder)) as service:
        conversation, run, alice = await reviewed(service)
        refused = await export(service, alice, conversation, run, **fields)
        assert refused.status_code == 422
        assert problem in refused.text and 'id="export-problem"' in refused.text
    assert list(folder.iterdir()) == []


async def test_the_export_is_a_form_of_the_session_and_of_this_conversation(sqlite_url: str, tmp_path: Path) -> None:
    folder = tmp_path / "reviewed"
    folder.mkdir()
    async with running_service(sqlite_url, SUPPORT_GOLDEN_CASES_DIR=str(folder)) as service:
        conversation, run, alice = await reviewed(service)
        _, other_run, _ = await reviewed(service)
        forged = await export(service, alice, conversation, run, csrf="not-the-token", must_say=TRACKING)
        assert forged.status_code == 403
        elsewhere = await export(service, alice, conversation, other_run, must_say=TRACKING)
        assert elsewhere.status_code == 404
        nameless = await export(service, alice, conversation, "../../etc/passwd", must_say=TRACKING)
        assert nameless.status_code == 404
    assert list(folder.iterdir()) == []


@pytest.mark.parametrize("kind", ["missing", "file"])
async def test_the_golden_cases_folder_is_checked_at_start_up(sqlite_url: str, tmp_path: Path, kind: str) -> None:
    target = tmp_path / "cases"
    if kind == "file":
        target.write_text("not a folder")
    with pytest.raises((ConfigurationError, AgentConfigurationError), match="SUPPORT_GOLDEN_CASES_DIR"):
        async with running_service(sqlite_url, SUPPORT_GOLDEN_CASES_DIR=str(target)):
            pass


def test_cases_of_a_folder_load_with_their_store_data(tmp_path: Path) -> None:
    case = {
        "name": "r",
        "cases": [
            {
                "name": "r",
                "inputs": {
                    "customer": JAMES,
                    "store": {"orders": {"#W0000001": {"order_id": "#W0000001", "user_id": "someone_else"}}},
                    "turns": [{"say": "hi"}],
                },
            }
        ],
    }
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(case))
    with pytest.raises(ValueError, match="must have order_id #W0000001 and user_id james_li_5688"):
        load_cases([tmp_path])


async def test_a_case_replays_the_confirmation_and_the_amended_approval(
    sqlite_url: str, tmp_path: Path, store: StoreTemplate
) -> None:
    folder = tmp_path / "reviewed"
    folder.mkdir()
    async with running_service(sqlite_url, SUPPORT_GOLDEN_CASES_DIR=str(folder)) as service:
        conversation = await service.new_conversation(JAMES)
        asked = await service.say(JAMES, conversation, "Order #W2611340 arrived damaged, please refund $150")
        held = await answer(service, JAMES, conversation, asked.json()["run"])
        assert held["status"] == "awaiting_approval", held
        approval = held["pending_action"]["approval_id"]
        original = (await service.http.get(f"/v1/approvals/{approval}", headers=bearer("agent_bob", "agent"))).json()
        decided = await service.http.post(
            f"/v1/approvals/{approval}/approve",
            json={"note": "one item was fine", "arguments": {**original["arguments"], "amount": 120}},
            headers=bearer("agent_bob", "agent"),
        )
        assert decided.status_code == 200, decided.text
        alice = await sign_in(service.http, "agent_alice", "agent")
        kept = await export(
            service, alice, conversation, decided.json()["run"]["id"], must_call=["issue_refund"], must_say="$120.00"
        )
        assert kept.status_code == 303, kept.text

    (written,) = folder.iterdir()
    case = yaml.safe_load(written.read_text())["cases"][0]
    assert case["inputs"]["turns"] == [
        {"say": "Order #W2611340 arrived damaged, please refund $150"},
        {"confirm": "confirm"},
        {"staff": "amend", "arguments": {"amount": 120}, "note": "one item was fine"},
    ]
    report = await run_golden(Target(model="offline"), store=store, dataset=golden_dataset(cases=[written]))
    (result,) = report.results.values()
    assert result.passed, result.failures
