"""Each write tool changes exactly what the store's rules say, and nothing when it fails."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest

from agent.turn.tool_gate import ToolGate
from basics.database import Database
from basics.principal import Principal
from policies.engine import PolicyEngine
from testkit import fixture_data as fx
from testkit.calls import submit_and_approve
from testkit.snapshot import cents, snapshot
from tools import registry
from tools.context import ToolContext
from tools.errors import InsufficientBalance
from tools.executor import execute

NEW_ADDRESS = {
    "address1": "1 Harbour Street",
    "address2": "Flat 2",
    "city": "Portland",
    "state": "ME",
    "country": "USA",
    "zip": "04101",
}


@pytest.fixture
def gate(db: Database, engine: PolicyEngine) -> ToolGate:
    return ToolGate(db, engine, registry)


def expected_after(before: dict[str, Any], order_id: str, **changes: Any) -> dict[str, Any]:
    after = copy.deepcopy(before)
    after["orders"][order_id].update(changes)
    return after


async def test_cancel_refunds_each_payment_and_credits_gift_cards(db: Database, gate: ToolGate) -> None:
    order = fx.first_order(lambda o: o["status"] == "pending" and fx.paid_with(o, "gift_card"))
    user_id, paid = order["user_id"], order["payment_history"][0]
    before = await snapshot(db)

    _, result = await submit_and_approve(
        gate, user_id, "cancel_pending_order", order_id=order["order_id"], reason="ordered by mistake"
    )

    assert result.ok, result.content
    after = await snapshot(db)
    want = expected_after(
        before,
        order["order_id"],
        status="cancelled",
        cancel_reason="ordered by mistake",
        payment_history=[*order["payment_history"], {**paid, "transaction_type": "refund"}],
    )
    card = want["users"][user_id]["payment_methods"][paid["payment_method_id"]]
    card["balance"] = (cents(card["balance"]) + cents(paid["amount"])) / 100
    assert after == want


async def test_modify_pending_address_replaces_only_the_address(db: Database, gate: ToolGate) -> None:
    order = fx.first_order(lambda o: o["status"] == "pending")
    before = await snapshot(db)
    _, result = await submit_and_approve(
        gate, order["user_id"], "modify_pending_order_address", order_id=order["order_id"], **NEW_ADDRESS
    )
    assert result.ok
    assert await snapshot(db) == expected_after(before, order["order_id"], address=NEW_ADDRESS)


async def test_modify_payment_to_a_gift_card_moves_the_money(db: Database, gate: ToolGate) -> None:
    order = fx.first_order(
        lambda o: (
            o["status"] == "pending"
            and fx.paid_with(o, "credit_card")
            and any(b >= o["payment_history"][0]["amount"] for b in fx.gift_cards(o["user_id"]).values())
        )
    )
    user_id, paid = order["user_id"], order["payment_history"][0]
    card_id = next(k for k, b in fx.gift_cards(user_id).items() if b >= paid["amount"])
    before = await snapshot(db)

    _, result = await submit_and_approve(
        gate, user_id, "modify_pending_order_payment", order_id=order["order_id"], payment_method_id=card_id
    )

    assert result.ok, result.content
    want = expected_after(
        before,
        order["order_id"],
        payment_history=[
            paid,
            {"transaction_type": "payment", "amount": paid["amount"], "payment_method_id": card_id},
            {"transaction_type": "refund", "amount": paid["amount"], "payment_method_id": paid["payment_method_id"]},
        ],
    )
    card = want["users"][user_id]["payment_methods"][card_id]
    card["balance"] = (cents(card["balance"]) - cents(paid["amount"])) / 100
    assert await snapshot(db) == want


async def test_gift_card_that_cannot_cover_is_refused_and_nothing_changes(db: Database, gate: ToolGate) -> None:
    order = fx.first_order(
        lambda o: (
            o["status"] == "pending"
            and fx.paid_with(o, "credit_card")
            and any(b < o["payment_history"][0]["amount"] for b in fx.gift_cards(o["user_id"]).values())
        )
    )
    card_id = next(k for k, b in fx.gift_cards(order["user_id"]).items() if b < order["payment_history"][0]["amount"])
    before = await snapshot(db)
    outcome, result = await submit_and_approve(
        gate, order["user_id"], "modify_pending_order_payment", order_id=order["order_id"], payment_method_id=card_id
    )
    assert not result.ok
    assert outcome.decision is not None and outcome.decision.rule == "precondition.insufficient_balance"
    assert await snapshot(db) == before


async def test_modify_items_swaps_variants_and_settles_the_difference(db: Database, gate: ToolGate) -> None:
    order, item, variant = fx.affordable_swap()
    user_id = order["user_id"]
    card_id = order["payment_history"][0]["payment_method_id"]
    difference = cents(variant["price"]) - cents(item["price"])
    position = order["items"].index(item)
    before = await snapshot(db)

    _, result = await submit_and_approve(
        gate,
        user_id,
        "modify_pending_order_items",
        order_id=order["order_id"],
        item_ids=[item["item_id"]],
        new_item_ids=[variant["item_id"]],
        payment_method_id=card_id,
    )

    assert result.ok, result.content
    items = copy.deepcopy(order["items"])
    items[position].update(item_id=variant["item_id"], price=variant["price"], options=variant["options"])
    want = expected_after(
        before,
        order["order_id"],
        items=items,
        status="pending (item modified)",
        payment_history=[
            *order["payment_history"],
            {
                "transaction_type": "payment" if difference > 0 else "refund",
                "amount": abs(difference) / 100,
                "payment_method_id": card_id,
            },
        ],
    )
    card = want["users"][user_id]["payment_methods"][card_id]
    card["balance"] = (cents(card["balance"]) - difference) / 100
    assert await snapshot(db) == want

    # Only once per order: the status moved on, so a second change is refused.
    again, second = await submit_and_approve(
        gate,
        user_id,
        "modify_pending_order_items",
        order_id=order["order_id"],
        item_ids=[variant["item_id"]],
        new_item_ids=[item["item_id"]],
        payment_method_id=card_id,
    )
    assert not second.ok and again.decision is not None
    assert again.decision.rule == "precondition.order_not_pending"


async def test_return_records_items_and_refund_method(db: Database, gate: ToolGate) -> None:
    order = fx.first_order(lambda o: o["status"] == "delivered" and len(o["items"]) >= 2)
    item_ids = [order["items"][1]["item_id"], order["items"][0]["item_id"]]
    method = order["payment_history"][0]["payment_method_id"]
    before = await snapshot(db)
    outcome, result = await submit_and_approve(
        gate,
        order["user_id"],
        "return_delivered_order_items",
        order_id=order["order_id"],
        item_ids=item_ids,
        payment_method_id=method,
    )
    assert result.ok
    assert outcome.decision is not None
    assert outcome.decision.amount_cents == sum(cents(i["price"]) for i in order["items"][:2])
    assert await snapshot(db) == expected_after(
        before,
        order["order_id"],
        status="return requested",
        return_items=sorted(item_ids),
        return_payment_method_id=method,
    )


async def test_return_to_another_card_is_refused(db: Database, gate: ToolGate) -> None:
    order = fx.first_order(
        lambda o: (
            o["status"] == "delivered"
            and fx.paid_with(o, "paypal")
            and any(m.startswith("credit_card") for m in fx.user(o["user_id"])["payment_methods"])
        )
    )
    card = next(m for m in fx.user(order["user_id"])["payment_methods"] if m.startswith("credit_card"))
    outcome, result = await submit_and_approve(
        gate,
        order["user_id"],
        "return_delivered_order_items",
        order_id=order["order_id"],
        item_ids=[order["items"][0]["item_id"]],
        payment_method_id=card,
    )
    assert not result.ok and outcome.decision is not None
    assert outcome.decision.rule == "precondition.refund_method_not_allowed"


async def test_exchange_records_both_sides_and_the_difference(db: Database, gate: ToolGate) -> None:
    order = fx.first_order(lambda o: o["status"] == "delivered")
    item = order["items"][0]
    variant = fx.other_variant(item)
    method = order["payment_history"][0]["payment_method_id"]
    before = await snapshot(db)
    _, result = await submit_and_approve(
        gate,
        order["user_id"],
        "exchange_delivered_order_items",
        order_id=order["order_id"],
        item_ids=[item["item_id"]],
        new_item_ids=[variant["item_id"]],
        payment_method_id=method,
    )
    assert result.ok, result.content
    difference = (cents(variant["price"]) - cents(item["price"])) / 100
    assert await snapshot(db) == expected_after(
        before,
        order["order_id"],
        status="exchange requested",
        exchange_items=[item["item_id"]],
        exchange_new_items=[variant["item_id"]],
        exchange_payment_method_id=method,
        exchange_price_difference=difference,
    )


async def test_exchange_for_another_product_or_unavailable_variant_is_refused(db: Database, gate: ToolGate) -> None:
    order = fx.first_order(lambda o: o["status"] == "delivered" and len({i["product_id"] for i in o["items"]}) > 1)
    first, second = (
        order["items"][0],
        next(i for i in order["items"] if i["product_id"] != order["items"][0]["product_id"]),
    )
    method = order["payment_history"][0]["payment_method_id"]
    before = await snapshot(db)
    outcome, _ = await submit_and_approve(
        gate,
        order["user_id"],
        "exchange_delivered_order_items",
        order_id=order["order_id"],
        item_ids=[first["item_id"]],
        new_item_ids=[fx.other_variant(second)["item_id"]],
        payment_method_id=method,
    )
    assert outcome.decision is not None and outcome.decision.rule == "precondition.different_product"
    unavailable = fx.first_order(
        lambda o: (
            o["status"] == "delivered"
            and any(
                not v["available"] for v in fx.store()["products"][o["items"][0]["product_id"]]["variants"].values()
            )
        )
    )
    item = unavailable["items"][0]
    outcome, _ = await submit_and_approve(
        gate,
        unavailable["user_id"],
        "exchange_delivered_order_items",
        order_id=unavailable["order_id"],
        item_ids=[item["item_id"]],
        new_item_ids=[fx.other_variant(item, available=False)["item_id"]],
        payment_method_id=unavailable["payment_history"][0]["payment_method_id"],
    )
    assert outcome.decision is not None and outcome.decision.rule == "precondition.variant_unavailable"
    assert await snapshot(db) == before


async def test_modify_customer_address(db: Database, gate: ToolGate) -> None:
    before = await snapshot(db)
    _, result = await submit_and_approve(gate, "james_li_5688", "modify_customer_address", **NEW_ADDRESS)
    assert result.ok
    want = copy.deepcopy(before)
    want["users"]["james_li_5688"]["address"] = NEW_ADDRESS
    assert await snapshot(db) == want


async def test_goodwill_refund_goes_to_the_original_method(db: Database, gate: ToolGate) -> None:
    before = await snapshot(db)
    _, result = await submit_and_approve(
        gate, "james_li_5688", "issue_refund", order_id="#W2611340", amount=20, reason="late delivery"
    )
    assert result.ok
    want = expected_after(
        before,
        "#W2611340",
        payment_history=[
            *fx.order("#W2611340")["payment_history"],
            {"transaction_type": "refund", "amount": 20.0, "payment_method_id": "gift_card_1725971"},
        ],
    )
    card = want["users"]["james_li_5688"]["payment_methods"]["gift_card_1725971"]
    card["balance"] = (cents(card["balance"]) + 2000) / 100
    assert await snapshot(db) == want


async def test_transfer_changes_nothing(db: Database, gate: ToolGate) -> None:
    before = await snapshot(db)
    outcome, result = await submit_and_approve(
        gate, "james_li_5688", "transfer_to_human_agents", summary="wants to talk to a person"
    )
    assert result.ok and outcome.ends_run
    assert await snapshot(db) == before


async def test_a_write_that_fails_half_way_leaves_nothing(
    db: Database, gate: ToolGate, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Items are rewritten before the gift card is charged; a failing charge must undo the item rewrite."""
    order, item, variant = fx.affordable_swap()

    async def failing_charge(*_: object, **__: object) -> None:
        raise InsufficientBalance("the card was drained in the meantime")

    monkeypatch.setattr("tools.item_tools.move_gift_card_balance", failing_charge)
    before = await snapshot(db)
    _, result = await submit_and_approve(
        gate,
        order["user_id"],
        "modify_pending_order_items",
        order_id=order["order_id"],
        item_ids=[item["item_id"]],
        new_item_ids=[variant["item_id"]],
        payment_method_id=order["payment_history"][0]["payment_method_id"],
    )
    assert not result.ok and result.error_code == "insufficient_balance"
    assert await snapshot(db) == before


async def test_same_idempotency_key_runs_once(db: Database) -> None:
    spec = registry.get("issue_refund")
    args = spec.parse({"order_id": "#W2611340", "amount": 10, "reason": "late"})
    results = []
    for _ in range(3):
        async with db.session() as session:
            ctx = ToolContext(Principal.customer("james_li_5688"), session, idempotency_key="refund-once")
            results.append(await execute(spec, ctx, args))
    assert [r.replayed for r in results] == [False, True, True]
    state = await snapshot(db)
    refunds = [t for t in state["orders"]["#W2611340"]["payment_history"] if t["transaction_type"] == "refund"]
    assert len(refunds) == 1


async def test_concurrent_cancels_of_one_order_refund_once(db: Database) -> None:
    order = fx.first_order(lambda o: o["status"] == "pending" and fx.paid_with(o, "gift_card"))
    spec = registry.get("cancel_pending_order")
    args = spec.parse({"order_id": order["order_id"], "reason": "no longer needed"})

    async def cancel(key: str) -> bool:
        async with db.session() as session:
            ctx = ToolContext(Principal.customer(order["user_id"]), session, idempotency_key=key)
            return (await execute(spec, ctx, args)).ok

    outcomes = await asyncio.gather(*(cancel(f"racer-{i}") for i in range(6)))
    assert sorted(outcomes) == [False] * 5 + [True]
    state = await snapshot(db)
    refunds = [t for t in state["orders"][order["order_id"]]["payment_history"] if t["transaction_type"] == "refund"]
    assert len(refunds) == 1
    card = order["payment_history"][0]["payment_method_id"]
    expected = cents(fx.gift_cards(order["user_id"])[card]) + cents(order["payment_history"][0]["amount"])
    assert cents(state["users"][order["user_id"]]["payment_methods"][card]["balance"]) == expected


async def test_money_stays_exact_over_many_writes(db: Database) -> None:
    """Two hundred ten-cent refunds add up to exactly twenty dollars: no float drift."""
    spec = registry.get("issue_refund")
    args = spec.parse({"order_id": "#W2611340", "amount": "0.10", "reason": "goodwill"})
    start = cents(fx.gift_cards("james_li_5688")["gift_card_1725971"])
    for i in range(200):
        async with db.session() as session:
            ctx = ToolContext(Principal.customer("james_li_5688"), session, idempotency_key=f"dime-{i}")
            assert (await execute(spec, ctx, args)).ok
    state = await snapshot(db)
    assert cents(state["users"]["james_li_5688"]["payment_methods"]["gift_card_1725971"]["balance"]) == start + 2000
    refunded = sum(
        cents(t["amount"]) for t in state["orders"]["#W2611340"]["payment_history"] if t["transaction_type"] == "refund"
    )
    assert refunded == 2000
