"""Amounts of money are read only in ASCII decimal notation: wherever one arrives (a model's tool call, an
approver's amendment, the policy file), `"１０"`, `"٧"`, `" 7 "`, `"+3"`, `"1_0"`, exponents, NaN, Infinity and
booleans are refused with a message that says how to write it, and nothing moves."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from agent.models.base import ModelRequest
from agent.models.scripted import ScriptedModel, Step, calls, say
from policies.config import DEFAULT_POLICY_FILE, load_policy
from testkit.confirm import answer
from testkit.service import ServiceClient, bearer, running_service
from tools.store.tables import LedgerEntry

JAMES = "james_li_5688"
ORDER = "#W2611340"
AGENT = bearer("agent_alice", role="agent")

NOT_ASCII_DECIMAL: list[Any] = ["１０", "٧", " 7 ", "7 ", "+3", "1_0", "1e2", "0x10", "10.", ".5", "NaN", "Infinity"]
NOT_NUMBERS: list[Any] = [True, False, None, "", [10], {"usd": 10}]
NOT_FINITE: list[Any] = [float("nan"), float("inf"), float("-inf")]


async def ledger(service: ServiceClient) -> list[LedgerEntry]:
    async with service.services.database.session(readonly=True) as session:
        return list((await session.exec(select(LedgerEntry))).all())


async def test_a_model_writing_an_amount_any_other_way_is_told_how_and_nothing_moves(database_url: str) -> None:
    await refused_from_the_model(database_url, NOT_ASCII_DECIMAL + NOT_NUMBERS)


async def test_a_model_proposing_nan_or_infinity_is_told_and_nothing_moves(database_url: str) -> None:
    """The loop takes NaN and the infinities in as text (so the transcript stays storable and sendable), and the
    amount type refuses that text like any other notation."""
    await refused_from_the_model(database_url, NOT_FINITE)


async def refused_from_the_model(database_url: str, bad: list[Any]) -> None:
    proposals = [
        ("issue_refund", {"order_id": ORDER, "amount": amount, "reason": "late delivery"}, f"t{i}")
        for i, amount in enumerate(bad)
    ]

    def every_amount_refused(request: ModelRequest) -> None:
        results = request.messages[-1].tool_results
        assert [r.tool_use_id for r in results] == [f"t{i}" for i in range(len(bad))]
        for result, amount in zip(results, bad, strict=True):
            error = json.loads(result.content)["error"]
            assert result.is_error and error["code"] == "invalid_arguments", (amount, error)
            [problem] = error["details"]["problems"]
            assert problem["field"] == "amount", (amount, problem)

    model = ScriptedModel([calls(*proposals), Step(response=say("How much should it be?"), check=every_amount_refused)])
    every_call = {"SUPPORT_MAX_TOOL_CALLS_PER_ANSWER": 100, "SUPPORT_MAX_TOOL_CALLS_PER_RUN": 100}
    async with running_service(database_url, model, **every_call) as service:
        conversation = await service.new_conversation(JAMES)
        answer = await service.say(JAMES, conversation, "my order came late, refund me")
        assert answer.status_code == 200 and answer.json()["run"]["status"] == "completed"
        assert await ledger(service) == []
    model.assert_done()


async def test_the_refusal_says_how_to_write_the_amount(sqlite_url: str) -> None:
    def explains(request: ModelRequest) -> None:
        [result] = request.messages[-1].tool_results
        problem = json.loads(result.content)["error"]["details"]["problems"][0]["problem"]
        assert "plain digits" in problem and "12.50" in problem, problem

    proposal = ("issue_refund", {"order_id": ORDER, "amount": "１０", "reason": "late"}, "t1")
    model = ScriptedModel([calls(proposal), Step(response=say("Let me try again."), check=explains)])
    async with running_service(sqlite_url, model) as service:
        conversation = await service.new_conversation(JAMES)
        assert (await service.say(JAMES, conversation, "refund me")).status_code == 200
    model.assert_done()


@pytest.mark.parametrize("amount", ["10", "10.5", "10.50", 10, 10.5])
async def test_plain_amounts_are_taken(sqlite_url: str, amount: Any) -> None:
    proposal = ("issue_refund", {"order_id": ORDER, "amount": amount, "reason": "late delivery"}, "t1")
    model = ScriptedModel([calls(proposal), say("Done.")])
    async with running_service(sqlite_url, model) as service:
        conversation = await service.new_conversation(JAMES)
        asked = (await service.say(JAMES, conversation, "refund me")).json()["run"]
        assert (await answer(service, JAMES, conversation, asked))["status"] == "completed"
        [entry] = await ledger(service)
    assert entry.refund_cents == round(float(amount) * 100)


async def test_an_amendment_is_read_the_same_way(database_url: str) -> None:
    async with running_service(database_url) as service:
        conversation = await service.new_conversation(JAMES)
        asked = (await service.say(JAMES, conversation, f"Order {ORDER} arrived damaged, please refund $150")).json()
        approval_id = (await answer(service, JAMES, conversation, asked["run"]))["pending_action"]["approval_id"]
        url = f"/v1/approvals/{approval_id}/approve"
        original = (await service.http.get(f"/v1/approvals/{approval_id}", headers=AGENT)).json()["arguments"]
        for amount in NOT_ASCII_DECIMAL + NOT_NUMBERS + NOT_FINITE:
            # json.dumps writes NaN and Infinity as the bare words some JSON encoders send.
            body = json.dumps({"arguments": {**original, "amount": amount}}).encode()
            refused = await service.http.post(url, content=body, headers={**AGENT, "content-type": "application/json"})
            assert refused.status_code == 422, (amount, refused.text)
            assert refused.json()["error"]["code"] == "amendment_rejected", (amount, refused.text)
        assert await ledger(service) == []
        assert (await service.http.get(f"/v1/approvals/{approval_id}", headers=AGENT)).json()["status"] == "pending"
        amended = await service.http.post(url, json={"arguments": {**original, "amount": "120.00"}}, headers=AGENT)
        assert amended.status_code == 200, amended.text
        [entry] = await ledger(service)
        assert entry.refund_cents == 12_000


@pytest.mark.parametrize("limit", ["１００.00", "+100", "1_000", "1e3", " 100 ", "NaN"])
def test_the_policy_file_takes_only_plain_amounts(tmp_path: Path, limit: str) -> None:
    text = DEFAULT_POLICY_FILE.read_text()
    assert 'auto = "25.00"' in text
    broken = tmp_path / "policy.toml"
    broken.write_text(text.replace('auto = "25.00"', f'auto = "{limit}"'))
    with pytest.raises(ValueError, match="plain digits"):
        load_policy(broken)
    assert load_policy(DEFAULT_POLICY_FILE).tiers["issue_refund"].auto == 2500
