"""Whatever a hostile or broken model sends, the engine answers with a stored decision and changes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import col, select

from agent.turn.tool_gate import ToolGate
from basics.batched import insert_rows, run
from basics.database import Database
from basics.principal import Principal
from policies.audit import PolicyDecisionRecord
from policies.engine import PolicyEngine
from testkit import fixture_data as fx
from testkit.snapshot import snapshot
from tools import registry
from tools.call import ToolCall

JAMES = "james_li_5688"
SOMEONE_ELSE = fx.foreign_order(JAMES)

HOSTILE: list[tuple[str, Any]] = [
    ("issue_refund", {"order_id": "#W2611340", "amount": -100, "reason": "x"}),
    ("issue_refund", {"order_id": "#W2611340", "amount": 1e308, "reason": "x"}),
    ("issue_refund", {"order_id": "#W2611340", "amount": "1e999", "reason": "x"}),
    ("issue_refund", {"order_id": "#W2611340", "amount": "NaN", "reason": "x"}),
    ("issue_refund", {"order_id": "#W2611340", "amount": 10**40, "reason": "x"}),
    ("issue_refund", {"order_id": "#W2611340", "amount": "Infinity", "reason": "x"}),
    ("issue_refund", {"order_id": SOMEONE_ELSE["order_id"], "amount": 5, "reason": "x"}),
    ("issue_refund", {"order_id": "#W2611340", "amount": True, "reason": "x"}),
    ("cancel_pending_order", {"order_id": "#W2611340\u0000; DROP TABLE orders", "reason": "no longer needed"}),
    ("cancel_pending_order", {"order_id": "#Ｗ２６１１３４０", "reason": "no longer needed"}),
    ("cancel_pending_order", {"order_id": SOMEONE_ELSE["order_id"], "reason": "no longer needed"}),
    ("cancel_pending_order", ["#W2611340", "no longer needed"]),
    ("cancel_pending_order", "cancel everything"),
    ("cancel_pending_order", None),
    ("cancel_pending_order", {"order_id": {"$ne": None}, "reason": "no longer needed"}),
    (
        "modify_customer_address",
        {
            "address1": "\ud800" * 10,
            "address2": "",
            "city": "x" * 10_000,
            "state": "🏴‍☠️",
            "country": "USA",
            "zip": "00000",
        },
    ),
    (
        "modify_customer_address",
        {
            "address1": "a",
            "address2": "",
            "city": "b",
            "state": "c",
            "country": "d",
            "zip": "12345",
            "user_id": SOMEONE_ELSE["user_id"],
        },
    ),
    (
        "return_delivered_order_items",
        {"order_id": "#W2611340", "item_ids": ["1"] * 10_000, "payment_method_id": "gift_card_1725971"},
    ),
    ("get_order_details", {"order_id": SOMEONE_ELSE["order_id"], "user_id": SOMEONE_ELSE["user_id"]}),
    ("transfer_to_human_agents", {"summary": "x" * 100_000}),
    ("execute_sql", {"query": "DELETE FROM orders"}),
    ("", {}),
    ("get_customer_profile\u0000", {}),
]


@pytest.mark.parametrize(("name", "arguments"), HOSTILE, ids=[f"{i}-{c[0][:20]}" for i, c in enumerate(HOSTILE)])
async def test_hostile_call_is_denied_recorded_and_harmless(
    db: Database, engine: PolicyEngine, name: str, arguments: Any
) -> None:
    before = await snapshot(db)
    outcome = await ToolGate(db, engine, registry).submit(
        ToolCall(name, arguments, id="hostile"), Principal.customer(JAMES), run_id="run-hostile", key="k-hostile"
    )
    assert outcome.result is not None and not outcome.result.ok
    assert await snapshot(db) == before
    if outcome.decision is not None:  # validation failures stop before the policy, with the field named
        assert outcome.decision.denied
        async with db.session(readonly=True) as session:
            stored = (await session.exec(select(PolicyDecisionRecord))).all()
        assert [(r.tool[:5], r.outcome, r.rule) for r in stored] == [
            (name[:5].replace("\u0000", "\ufffd"), "deny", outcome.decision.rule)
        ]


async def test_engine_evaluates_malformed_calls_directly(db: Database, engine: PolicyEngine) -> None:
    """The gate validates first, but the engine alone must also hold: it is the last line."""
    async with db.session() as session:
        for name, arguments in HOSTILE:
            decision = await engine.evaluate(ToolCall(name, arguments), Principal.customer(JAMES), session)
            assert not decision.allowed or not registry.get(name).writes if name in registry else decision.denied
        await session.commit()
        rows = (await session.exec(select(PolicyDecisionRecord).order_by(col(PolicyDecisionRecord.id)))).all()
    assert len(rows) == len(HOSTILE)
    assert all(r.policy_version == engine.version for r in rows)


async def test_staff_cannot_drive_store_tools(db: Database, engine: PolicyEngine) -> None:
    async with db.session() as session:
        decision = await engine.evaluate(
            ToolCall("get_customer_profile", {}), Principal(id="agent-7", role="agent"), session
        )
    assert decision.denied and decision.rule == "principal.not_customer"


async def test_every_decision_is_audited_with_its_context(db: Database, engine: PolicyEngine) -> None:
    gate = ToolGate(db, engine, registry)
    calls = [
        ToolCall("get_order_details", {"order_id": "#W2611340"}, id="a"),
        ToolCall("issue_refund", {"order_id": "#W2611340", "amount": 50, "reason": "late"}, id="b"),
        ToolCall("cancel_pending_order", {"order_id": "#W2611340", "reason": "no longer needed"}, id="c"),
        ToolCall("issue_refund", {"order_id": "#W2611340", "amount": 10, "reason": "late"}, id="d"),
    ]
    outcomes = [await gate.submit(c, Principal.customer(JAMES), run_id="run-audit", key=f"k-{c.id}") for c in calls]
    # Refusals, holds and writes are stored as they are decided; the allowed read's row comes back to the caller,
    # which stores it with the run's steps (the loop does; here the test stands in for it).
    async with db.session(readonly=True) as session:
        assert [r.call_id for r in (await session.exec(select(PolicyDecisionRecord))).all()] == ["b", "c", "d"]
    unrecorded = [o.unrecorded_decision for o in outcomes]
    assert [row is not None for row in unrecorded] == [True, False, False, False]
    async with db.session() as session:
        await run(session, insert_rows(PolicyDecisionRecord.__table__, [r for r in unrecorded if r is not None], "d"))
        await session.commit()
    async with db.session(readonly=True) as session:
        rows = (await session.exec(select(PolicyDecisionRecord).order_by(col(PolicyDecisionRecord.created_at)))).all()
    assert [(r.call_id, r.outcome, r.rule) for r in rows] == [
        ("a", "allow", "read.allowed"),
        ("b", "needs_approval", "money.issue_refund.agent_tier"),
        ("c", "deny", "precondition.order_not_pending"),
        ("d", "allow", "write.auto"),
    ]
    assert rows[1].arguments == {"order_id": "#W2611340", "amount": 50, "reason": "late"}
    assert rows[1].amount_cents == 5000 and rows[1].approver_role == "agent"
    assert {r.principal_id for r in rows} == {JAMES} and {r.run_id for r in rows} == {"run-audit"}
    assert all(r.created_at is not None and r.policy_version == engine.version for r in rows)


async def test_a_broken_rule_fails_closed(db: Database, engine: PolicyEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(*_: object) -> None:
        raise RuntimeError("rule bug")

    monkeypatch.setattr("policies.engine.customer_refund_rule", broken)
    before = await snapshot(db)
    outcome = await ToolGate(db, engine, registry).submit(
        ToolCall("issue_refund", {"order_id": "#W2611340", "amount": 5, "reason": "late"}, id="x"),
        Principal.customer(JAMES),
        run_id="run-broken",
        key="k-broken",
    )
    assert outcome.decision is not None and outcome.decision.rule == "engine.error" and outcome.decision.denied
    assert await snapshot(db) == before
