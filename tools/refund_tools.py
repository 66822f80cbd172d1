"""Goodwill refunds: money back on an order without a return, capped by what the order still holds."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from tools import summaries
from tools.arguments import Amount, FreeText, OrderId, ToolArgs
from tools.context import ToolContext
from tools.errors import PreconditionFailed
from tools.order_tools import saved_json
from tools.registry import Change, Effect, registry
from tools.store.money import format_usd, to_cents
from tools.store.records import (
    add_transaction,
    claim_order,
    is_gift_card,
    item_prices,
    load_order,
    load_payment_method,
    move_gift_card_balance,
    original_payment_method_id,
)
from tools.store.tables import Order


def refundable_cents(order: Order) -> int:
    """What could still go back to the customer: paid, minus refunded, minus refunds already promised by a
    requested return or exchange."""
    paid: int = sum(t["amount_cents"] for t in order.payment_history if t["transaction_type"] == "payment")
    refunded: int = sum(t["amount_cents"] for t in order.payment_history if t["transaction_type"] == "refund")
    promised = 0
    if order.status == "return requested" and order.return_items:
        prices = item_prices(order)
        promised += sum(prices.get(item_id, 0) for item_id in order.return_items)
    if order.status == "exchange requested" and (order.exchange_price_difference_cents or 0) < 0:
        promised += -(order.exchange_price_difference_cents or 0)
    return max(paid - refunded - promised, 0)


class IssueRefund(ToolArgs):
    order_id: OrderId
    amount: Amount
    reason: FreeText = Field(description="Why the refund is given, in a sentence; staff read it when approving.")


@registry.tool(effect=Effect.MONEY, label="Arranging the refund")
async def issue_refund(ctx: ToolContext, args: IssueRefund) -> Change:
    """Give a goodwill refund on one of the customer's orders (e.g. for a late or damaged delivery), to the order's
    original payment method. Never more than the order still has refundable."""
    order = await load_order(ctx.session, ctx.customer_id, args.order_id)
    if order.status == "cancelled":
        raise PreconditionFailed(f"order {order.order_id} is cancelled and already refunded", code="order_cancelled")
    amount = to_cents(args.amount)
    available = refundable_cents(order)
    if amount > available:
        raise PreconditionFailed(
            f"order {order.order_id} has {format_usd(available)} left to refund; {format_usd(amount)} is more",
            code="exceeds_refundable",
            details={"refundable": format_usd(available)},
        )
    method_id = original_payment_method_id(order)
    if method_id is None:
        raise PreconditionFailed(f"order {order.order_id} has no payment to refund", code="nothing_paid")
    method = await load_payment_method(ctx.session, ctx.customer_id, method_id)

    async def apply() -> dict[str, Any]:
        await claim_order(ctx.session, order)
        add_transaction(order, "refund", amount, method.id)
        if is_gift_card(method):
            await move_gift_card_balance(ctx.session, method, amount)
        return await saved_json(ctx, order)

    return Change(
        apply=apply,
        order_id=order.order_id,
        amount_cents=amount,
        refund_cents=amount,
        summary=summaries.refund(order.order_id, amount, method),
    )
