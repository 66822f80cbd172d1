"""Pending orders: look one up, cancel it, change where it ships or how it is paid."""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Literal

from pydantic import Field

from tools import summaries
from tools.arguments import AddressArgs, OrderId, PaymentMethodId, ToolArgs
from tools.context import ToolContext
from tools.errors import InsufficientBalance, PreconditionFailed
from tools.registry import Change, Effect, registry
from tools.store.money import format_usd
from tools.store.records import (
    add_transaction,
    claim_order,
    is_gift_card,
    load_order,
    load_payment_method,
    move_gift_card_balance,
    order_json,
    read_order,
)
from tools.store.tables import Order

CancelReason = Literal["no longer needed", "ordered by mistake"]


def require_status(order: Order, *, exactly: str | None = None, containing: str | None = None) -> None:
    status = order.status
    if exactly is not None and status != exactly:
        raise PreconditionFailed(
            f"order {order.order_id} is '{status}'; this needs it to be '{exactly}'", code=f"order_not_{exactly}"
        )
    if containing is not None and containing not in status:
        raise PreconditionFailed(
            f"order {order.order_id} is '{status}'; this needs a {containing} order", code=f"order_not_{containing}"
        )


async def saved_json(ctx: ToolContext, order: Order) -> dict[str, Any]:
    """Write the order's changes and return it as the model will see it."""
    ctx.session.add(order)
    await ctx.session.flush()
    return order_json(order)


class GetOrderDetails(ToolArgs):
    order_id: OrderId


@registry.tool(effect=Effect.READ, label="Looking up your order")
async def get_order_details(ctx: ToolContext, args: GetOrderDetails) -> dict[str, Any]:
    """Get one of the customer's orders: status, items with prices and options, shipping address, fulfilments
    (tracking ids) and payment history."""
    return order_json(await read_order(ctx.read, ctx.session, ctx.customer_id, args.order_id))


class CancelPendingOrder(ToolArgs):
    order_id: OrderId
    reason: CancelReason = Field(description="Why the customer cancels; only these two reasons are accepted.")


def net_paid_by_method(order: Order) -> dict[str, int]:
    """What each payment method has paid into the order, after earlier refunds."""
    net: dict[str, int] = defaultdict(int)
    for t in order.payment_history:
        sign = 1 if t["transaction_type"] == "payment" else -1
        net[t["payment_method_id"]] += sign * t["amount_cents"]
    return {method: cents for method, cents in net.items() if cents > 0}


@registry.tool(effect=Effect.MONEY, label="Cancelling the order")
async def cancel_pending_order(ctx: ToolContext, args: CancelPendingOrder) -> Change:
    """Cancel a pending order and refund what was paid to the original payment methods (gift cards at once,
    cards and PayPal in 5-7 business days). Only orders with status 'pending' can be cancelled. Confirm the
    order id and the reason with the customer first."""
    order = await load_order(ctx.session, ctx.customer_id, args.order_id)
    require_status(order, exactly="pending")
    refunds = net_paid_by_method(order)
    total = sum(refunds.values())
    methods = [(await load_payment_method(ctx.session, ctx.customer_id, m), cents) for m, cents in refunds.items()]

    async def apply() -> dict[str, Any]:
        await claim_order(ctx.session, order)
        for method_id, cents in refunds.items():
            add_transaction(order, "refund", cents, method_id)
            method = await load_payment_method(ctx.session, ctx.customer_id, method_id)
            if is_gift_card(method):
                await move_gift_card_balance(ctx.session, method, cents)
        order.status = "cancelled"
        order.cancel_reason = args.reason
        return await saved_json(ctx, order)

    return Change(
        apply=apply,
        order_id=order.order_id,
        amount_cents=total,
        refund_cents=total,
        summary=summaries.cancel(order, methods),
    )


class ModifyPendingOrderAddress(AddressArgs):
    order_id: OrderId


@registry.tool(effect=Effect.WRITE, label="Changing the order's address")
async def modify_pending_order_address(ctx: ToolContext, args: ModifyPendingOrderAddress) -> Change:
    """Change the shipping address of a pending order (status containing 'pending'). Confirm the full new
    address with the customer first."""
    order = await load_order(ctx.session, ctx.customer_id, args.order_id)
    require_status(order, containing="pending")

    async def apply() -> dict[str, Any]:
        await claim_order(ctx.session, order)
        order.address = args.as_address()
        return await saved_json(ctx, order)

    return Change(apply=apply, order_id=order.order_id, summary=summaries.ship_to(order.order_id, args.as_address()))


class ModifyPendingOrderPayment(ToolArgs):
    order_id: OrderId
    payment_method_id: PaymentMethodId


@registry.tool(effect=Effect.MONEY, label="Changing the order's payment method")
async def modify_pending_order_payment(ctx: ToolContext, args: ModifyPendingOrderPayment) -> Change:
    """Pay a pending order with a different payment method of the customer: the new method is charged the order
    amount and the old one refunded. A gift card must have enough balance. Only for orders paid once."""
    order = await load_order(ctx.session, ctx.customer_id, args.order_id)
    require_status(order, containing="pending")
    if len(order.payment_history) != 1 or order.payment_history[0]["transaction_type"] != "payment":
        raise PreconditionFailed(
            f"order {order.order_id} has more than one payment; its payment method cannot be changed",
            code="payment_already_changed",
        )
    old_method_id: str = order.payment_history[0]["payment_method_id"]
    if old_method_id == args.payment_method_id:
        raise PreconditionFailed("the order is already paid with that payment method", code="same_payment_method")
    new_method = await load_payment_method(ctx.session, ctx.customer_id, args.payment_method_id)
    old_method = await load_payment_method(ctx.session, ctx.customer_id, old_method_id)
    amount: int = order.payment_history[0]["amount_cents"]
    if is_gift_card(new_method) and (new_method.balance_cents or 0) < amount:
        raise InsufficientBalance(
            f"your {summaries.method_name(new_method)} does not cover the {format_usd(amount)} this order costs"
        )

    async def apply() -> dict[str, Any]:
        await claim_order(ctx.session, order)
        add_transaction(order, "payment", amount, new_method.id)
        add_transaction(order, "refund", amount, old_method.id)
        if is_gift_card(new_method):
            await move_gift_card_balance(ctx.session, new_method, -amount)
        if is_gift_card(old_method):
            await move_gift_card_balance(ctx.session, old_method, amount)
        return await saved_json(ctx, order)

    return Change(
        apply=apply,
        order_id=order.order_id,
        amount_cents=amount,
        summary=summaries.pay_with(order.order_id, amount, new_method, old_method),
    )
