"""Each policy rule at its boundary: exactly at a limit passes, one cent over does not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from basics.database import Database
from basics.principal import Principal
from policies.config import PolicyConfig, Tier, load_policy
from policies.decision import Decision, Outcome
from policies.engine import PolicyEngine
from testkit import fixture_data as fx
from testkit.ledger import add_history
from tools import registry
from tools.call import ToolCall

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
JAMES = "james_li_5688"  # owns #W2611340: processed, $536.65 paid by gift card


async def decide(db: Database, config: PolicyConfig, user_id: str, name: str, **arguments: Any) -> Decision:
    engine = PolicyEngine(config, registry, clock=lambda: NOW)
    async with db.session() as session:
        decision = await engine.evaluate(ToolCall(name, arguments, id="c1"), Principal.customer(user_id), session)
        await session.commit()
    return decision


def with_tier(config: PolicyConfig, name: str, **limits: int | None) -> PolicyConfig:
    tiers = dict(config.tiers)
    tiers[name] = Tier.model_validate({k: (None if v is None else f"{v / 100:.2f}") for k, v in limits.items()})
    return config.model_copy(update={"tiers": tiers})


def test_the_policy_file_holds_the_agreed_defaults() -> None:
    config = load_policy()
    assert (config.tiers["default"].auto, config.tiers["default"].agent, config.tiers["default"].supervisor) == (
        10_000,
        100_000,
        500_000,
    )
    assert (config.tiers["issue_refund"].auto, config.tiers["issue_refund"].agent) == (2_500, 20_000)
    assert config.tiers["issue_refund"].supervisor is None
    assert (config.tiers["issue_refund"].total_auto, config.tiers["issue_refund"].total_agent) == (5_000, 40_000)
    assert (config.tiers["default"].total_auto, config.tiers["default"].total_agent) == (30_000, 300_000)
    assert config.tier_window.days == 30
    assert config.cumulative.customer_refund_limit == 200_000
    assert config.cumulative.customer_refund_window_days == 30
    assert config.rate.customer_writes_per_hour == 10
    assert config.version


@pytest.mark.parametrize(
    ("amount", "outcome", "role", "rule"),
    [
        ("25.00", Outcome.ALLOW, None, "write.auto"),
        ("25.01", Outcome.NEEDS_APPROVAL, "agent", "money.issue_refund.agent_tier"),
        ("200.00", Outcome.NEEDS_APPROVAL, "agent", "money.issue_refund.agent_tier"),
        ("200.01", Outcome.DENY, None, "money.issue_refund.over_cap"),
    ],
)
async def test_goodwill_refund_tiers(
    db: Database, policy: PolicyConfig, amount: str, outcome: Outcome, role: str | None, rule: str
) -> None:
    decision = await decide(db, policy, JAMES, "issue_refund", order_id="#W2611340", amount=amount, reason="late")
    assert (decision.outcome, decision.approver_role, decision.rule) == (outcome, role, rule)
    assert decision.policy_version == policy.version


async def test_goodwill_refund_never_exceeds_what_is_refundable(db: Database, policy: PolicyConfig) -> None:
    generous = with_tier(policy, "issue_refund", auto=10_000_00, agent=10_000_00)
    at_limit = await decide(db, generous, JAMES, "issue_refund", order_id="#W2611340", amount="536.65", reason="x")
    over = await decide(db, generous, JAMES, "issue_refund", order_id="#W2611340", amount="536.66", reason="x")
    assert at_limit.allowed
    assert over.denied and over.rule == "precondition.exceeds_refundable"


def pending_order_paid() -> tuple[dict[str, Any], int]:
    order = fx.first_order(lambda o: o["status"] == "pending" and o["payment_history"][0]["amount"] > 300)
    return order, round(order["payment_history"][0]["amount"] * 100)


@pytest.mark.parametrize(
    ("limits", "outcome", "role"),
    [
        (lambda a: {"auto": a, "agent": a, "supervisor": a}, Outcome.ALLOW, None),
        (lambda a: {"auto": a - 1, "agent": a, "supervisor": a}, Outcome.NEEDS_APPROVAL, "agent"),
        (lambda a: {"auto": a - 1, "agent": a - 1, "supervisor": a}, Outcome.NEEDS_APPROVAL, "supervisor"),
        (lambda a: {"auto": a - 1, "agent": a - 1, "supervisor": a - 1}, Outcome.DENY, None),
    ],
    ids=["at-auto", "cent-over-auto", "cent-over-agent", "cent-over-supervisor"],
)
async def test_money_tiers_on_a_cancellation(
    db: Database, policy: PolicyConfig, limits: Any, outcome: Outcome, role: str | None
) -> None:
    """The cancellation's amount is what was paid; the tiers are moved onto it to test each edge."""
    order, paid = pending_order_paid()
    config = with_tier(policy, "default", **limits(paid))
    decision = await decide(
        db, config, order["user_id"], "cancel_pending_order", order_id=order["order_id"], reason="no longer needed"
    )
    assert (decision.outcome, decision.approver_role, decision.amount_cents) == (outcome, role, paid)


async def test_return_amount_is_the_sum_of_returned_items(db: Database, policy: PolicyConfig) -> None:
    order = fx.first_order(lambda o: o["status"] == "delivered" and len(o["items"]) >= 3)
    ids = [i["item_id"] for i in order["items"][:2]]
    decision = await decide(
        db,
        policy,
        order["user_id"],
        "return_delivered_order_items",
        order_id=order["order_id"],
        item_ids=ids,
        payment_method_id=order["payment_history"][0]["payment_method_id"],
    )
    assert decision.amount_cents == sum(round(i["price"] * 100) for i in order["items"][:2])


async def test_item_change_amount_is_the_absolute_difference(db: Database, policy: PolicyConfig) -> None:
    order, item, variant = fx.affordable_swap()
    decision = await decide(
        db,
        policy,
        order["user_id"],
        "modify_pending_order_items",
        order_id=order["order_id"],
        item_ids=[item["item_id"]],
        new_item_ids=[variant["item_id"]],
        payment_method_id=order["payment_history"][0]["payment_method_id"],
    )
    assert decision.amount_cents == abs(round(variant["price"] * 100) - round(item["price"] * 100))


@pytest.mark.parametrize(("earlier_cents", "outcome"), [(197_500, Outcome.ALLOW), (197_501, Outcome.NEEDS_APPROVAL)])
async def test_refunds_over_thirty_days(
    db: Database, policy: PolicyConfig, earlier_cents: int, outcome: Outcome
) -> None:
    await add_history(db, JAMES, NOW - timedelta(days=29), refund_cents=earlier_cents)
    await add_history(db, JAMES, NOW - timedelta(days=31), refund_cents=500_000)  # outside the window
    decision = await decide(db, policy, JAMES, "issue_refund", order_id="#W2611340", amount="25.00", reason="x")
    assert decision.outcome is outcome
    if outcome is Outcome.NEEDS_APPROVAL:
        assert decision.rule == "cumulative.customer_refunds"
        assert decision.approver_role == policy.cumulative.customer_refund_approver


@pytest.mark.parametrize(("today_cents", "outcome"), [(2_497_500, Outcome.ALLOW), (2_497_501, Outcome.NEEDS_APPROVAL)])
async def test_store_daily_refund_budget(
    db: Database, policy: PolicyConfig, today_cents: int, outcome: Outcome
) -> None:
    # Spread over other customers so no one customer's own limit is involved.
    others = [u for u in fx.store()["users"] if u != JAMES][:20]
    share, rest = divmod(today_cents, len(others))
    for i, user in enumerate(others):
        await add_history(db, user, NOW.replace(hour=1), refund_cents=share + (rest if i == 0 else 0))
    await add_history(db, others[0], NOW - timedelta(days=1), refund_cents=1_000_000)  # yesterday
    decision = await decide(db, policy, JAMES, "issue_refund", order_id="#W2611340", amount="25.00", reason="x")
    assert decision.outcome is outcome
    if outcome is Outcome.NEEDS_APPROVAL:
        assert (decision.rule, decision.approver_role) == ("cumulative.store_daily_refunds", "supervisor")


@pytest.mark.parametrize(("done", "outcome"), [(9, Outcome.ALLOW), (10, Outcome.DENY)])
async def test_writes_per_hour(db: Database, policy: PolicyConfig, done: int, outcome: Outcome) -> None:
    for minutes in range(done):
        await add_history(db, JAMES, NOW - timedelta(minutes=59 - minutes))
    await add_history(db, JAMES, NOW - timedelta(minutes=61))  # an hour ago: no longer counts
    decision = await decide(
        db,
        policy,
        JAMES,
        "modify_customer_address",
        address1="1 Main St",
        address2="",
        city="Austin",
        state="TX",
        country="USA",
        zip="73301",
    )
    assert decision.outcome is outcome
    if outcome is Outcome.DENY:
        assert decision.rule == "rate.customer_writes_per_hour"


def pending(o: dict[str, Any]) -> bool:
    return o["status"] == "pending"


@pytest.mark.parametrize(
    ("case", "rule"),
    [
        ("cancel_processed", "precondition.order_not_pending"),
        ("cancel_bad_reason", "arguments.invalid"),
        ("return_pending", "precondition.order_not_delivered"),
        ("address_on_delivered", "precondition.order_not_pending"),
        ("payment_same_method", "precondition.same_payment_method"),
        ("payment_foreign_method", "ownership.not_found"),
        ("cancel_foreign_order", "ownership.not_found"),
        ("return_item_not_in_order", "precondition.item_not_in_order"),
        ("refund_cancelled_order", "precondition.order_cancelled"),
    ],
)
async def test_store_preconditions_deny(db: Database, policy: PolicyConfig, case: str, rule: str) -> None:
    processed = fx.order("#W2611340")
    pend = fx.first_order(lambda o: pending(o) and o["user_id"] != JAMES)
    delivered = fx.first_order(lambda o: o["status"] == "delivered")
    cancelled = fx.first_order(lambda o: o["status"] == "cancelled")
    address = {
        "address1": "1 Main St",
        "address2": "",
        "city": "Austin",
        "state": "TX",
        "country": "USA",
        "zip": "73301",
    }
    calls: dict[str, tuple[str, str, dict[str, Any]]] = {
        "cancel_processed": (
            JAMES,
            "cancel_pending_order",
            {"order_id": processed["order_id"], "reason": "no longer needed"},
        ),
        "cancel_bad_reason": (
            pend["user_id"],
            "cancel_pending_order",
            {"order_id": pend["order_id"], "reason": "found it cheaper"},
        ),
        "return_pending": (
            pend["user_id"],
            "return_delivered_order_items",
            {
                "order_id": pend["order_id"],
                "item_ids": [pend["items"][0]["item_id"]],
                "payment_method_id": pend["payment_history"][0]["payment_method_id"],
            },
        ),
        "address_on_delivered": (
            delivered["user_id"],
            "modify_pending_order_address",
            {"order_id": delivered["order_id"], **address},
        ),
        "payment_same_method": (
            pend["user_id"],
            "modify_pending_order_payment",
            {"order_id": pend["order_id"], "payment_method_id": pend["payment_history"][0]["payment_method_id"]},
        ),
        "payment_foreign_method": (
            pend["user_id"],
            "modify_pending_order_payment",
            {"order_id": pend["order_id"], "payment_method_id": "gift_card_1725971"},
        ),
        "cancel_foreign_order": (
            JAMES,
            "cancel_pending_order",
            {"order_id": pend["order_id"], "reason": "no longer needed"},
        ),
        "return_item_not_in_order": (
            delivered["user_id"],
            "return_delivered_order_items",
            {
                "order_id": delivered["order_id"],
                "item_ids": ["0000000000"],
                "payment_method_id": delivered["payment_history"][0]["payment_method_id"],
            },
        ),
        "refund_cancelled_order": (
            cancelled["user_id"],
            "issue_refund",
            {"order_id": cancelled["order_id"], "amount": 1, "reason": "sorry"},
        ),
    }
    user_id, name, arguments = calls[case]
    decision = await decide(db, policy, user_id, name, **arguments)
    assert decision.denied and decision.rule == rule, decision
