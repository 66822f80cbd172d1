"""Changing which items an order holds: swap variants of a pending order, return or exchange delivered items."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from pydantic import model_validator

from tools import naming, summaries
from tools.arguments import ItemIdList, OrderId, PaymentMethodId, ToolArgs
from tools.context import ToolContext
from tools.errors import InsufficientBalance, PreconditionFailed
from tools.order_tools import require_status, saved_json
from tools.registry import Change, Effect, registry
from tools.store.money import format_usd
from tools.store.records import (
    add_transaction,
    claim_order,
    is_gift_card,
    item_prices,
    load_order,
    load_payment_method,
    load_variants,
    move_gift_card_balance,
    original_payment_method_id,
)
from tools.store.tables import Order, PaymentMethod, Variant


def require_items_in_order(order: Order, item_ids: list[str]) -> None:
    """Every id must be in the order, as many times as it is listed."""
    held = Counter(item["item_id"] for item in order.items)
    for item_id, wanted in Counter(item_ids).items():
        if wanted > held[item_id]:
            # The customer reads this: an item that is in the order is named; one that is not has no name here.
            named = next((naming.item(i) for i in order.items if i["item_id"] == item_id), None)
            raise PreconditionFailed(
                f"{naming.order(order.order_id)} holds only {held[item_id]} of the {named}"
                if named
                else f"{naming.order(order.order_id)} does not hold one of the items asked for",
                code="item_not_in_order",
                details={"item_id": item_id},
            )


@dataclass(slots=True)
class ItemSwap:
    pairs: list[tuple[int, Variant]]
    """(position of the item in the order, its new variant)"""
    difference_cents: int
    """New prices minus old prices: positive means the customer pays more."""


async def plan_swap(ctx: ToolContext, order: Order, item_ids: list[str], new_item_ids: list[str]) -> ItemSwap:
    """Pair each item with its new variant: same product, a different option, available."""
    require_items_in_order(order, item_ids)
    variants = await load_variants(ctx.session, new_item_ids)
    taken: set[int] = set()
    pairs: list[tuple[int, Variant]] = []
    difference = 0
    for old_id, new_id in zip(item_ids, new_item_ids, strict=True):
        position = next(p for p, i in enumerate(order.items) if i["item_id"] == old_id and p not in taken)
        taken.add(position)
        item = order.items[position]
        if old_id == new_id:
            raise PreconditionFailed(
                f"the {naming.item(item)} would be swapped for the very same one; choose other options",
                code="same_item",
                details={"item_id": old_id},
            )
        variant = variants.get(new_id)
        if variant is None or variant.product_id != item["product_id"]:
            raise PreconditionFailed(
                f"the {naming.item(item)} can only be swapped for other options of the same product",
                code="different_product",
                details={"new_item_id": new_id},
            )
        if not variant.available:
            wanted = naming.item({"name": item["name"], "options": variant.options})
            raise PreconditionFailed(f"the {wanted} is not available", code="variant_unavailable")
        pairs.append((position, variant))
        difference += variant.price_cents - item["price_cents"]
    return ItemSwap(pairs=pairs, difference_cents=difference)


async def settlement_method(ctx: ToolContext, payment_method_id: str, owed_cents: int) -> PaymentMethod:
    """The method that pays or receives a price difference; a gift card must cover what is owed."""
    method = await load_payment_method(ctx.session, ctx.customer_id, payment_method_id)
    if is_gift_card(method) and owed_cents > 0 and (method.balance_cents or 0) < owed_cents:
        raise InsufficientBalance(
            f"your {summaries.method_name(method)} does not cover the {format_usd(owed_cents)} price difference"
        )
    return method


class ItemSwapArgs(ToolArgs):
    order_id: OrderId
    item_ids: ItemIdList
    new_item_ids: ItemIdList
    payment_method_id: PaymentMethodId

    @model_validator(mode="after")
    def _same_length(self) -> ItemSwapArgs:
        if len(self.item_ids) != len(self.new_item_ids):
            raise ValueError("item_ids and new_item_ids must have the same length, paired in order")
        return self


class ModifyPendingOrderItems(ItemSwapArgs):
    pass


@registry.tool(effect=Effect.MONEY, label="Changing the order's items")
async def modify_pending_order_items(ctx: ToolContext, args: ModifyPendingOrderItems) -> Change:
    """Swap items of a pending order for other variants of the same product (e.g. another size or colour).
    Can be done once per order and only while its status is 'pending': collect every item to change first.
    The price difference is charged to, or refunded on, the given payment method."""
    order = await load_order(ctx.session, ctx.customer_id, args.order_id)
    require_status(order, exactly="pending")
    swap = await plan_swap(ctx, order, list(args.item_ids), list(args.new_item_ids))
    method = await settlement_method(ctx, args.payment_method_id, swap.difference_cents)

    async def apply() -> dict[str, Any]:
        await claim_order(ctx.session, order)
        items = [dict(item) for item in order.items]
        for position, variant in swap.pairs:
            items[position].update(
                item_id=variant.item_id, price_cents=variant.price_cents, options=dict(variant.options)
            )
        order.items = items
        kind = "payment" if swap.difference_cents > 0 else "refund"
        add_transaction(order, kind, abs(swap.difference_cents), method.id)
        if is_gift_card(method):
            await move_gift_card_balance(ctx.session, method, -swap.difference_cents)
        order.status = "pending (item modified)"
        return await saved_json(ctx, order)

    return Change(
        apply=apply,
        order_id=order.order_id,
        amount_cents=abs(swap.difference_cents),
        refund_cents=max(-swap.difference_cents, 0),
        summary=summaries.swap(order, swap.pairs, swap.difference_cents, method),
    )


class ExchangeDeliveredOrderItems(ItemSwapArgs):
    pass


@registry.tool(effect=Effect.MONEY, label="Arranging the exchange")
async def exchange_delivered_order_items(ctx: ToolContext, args: ExchangeDeliveredOrderItems) -> Change:
    """Exchange items of a delivered order for other variants of the same product. Can be done once per order:
    collect every item to exchange first. The price difference is settled on the given payment method."""
    order = await load_order(ctx.session, ctx.customer_id, args.order_id)
    require_status(order, exactly="delivered")
    swap = await plan_swap(ctx, order, list(args.item_ids), list(args.new_item_ids))
    method = await settlement_method(ctx, args.payment_method_id, swap.difference_cents)

    async def apply() -> dict[str, Any]:
        await claim_order(ctx.session, order)
        order.status = "exchange requested"
        order.exchange_items = sorted(args.item_ids)
        order.exchange_new_items = sorted(args.new_item_ids)
        order.exchange_payment_method_id = method.id
        order.exchange_price_difference_cents = swap.difference_cents
        return await saved_json(ctx, order)

    return Change(
        apply=apply,
        order_id=order.order_id,
        amount_cents=abs(swap.difference_cents),
        refund_cents=max(-swap.difference_cents, 0),
        summary=summaries.swap(order, swap.pairs, swap.difference_cents, method),
    )


class ReturnDeliveredOrderItems(ToolArgs):
    order_id: OrderId
    item_ids: ItemIdList
    payment_method_id: PaymentMethodId


@registry.tool(effect=Effect.MONEY, label="Arranging the return")
async def return_delivered_order_items(ctx: ToolContext, args: ReturnDeliveredOrderItems) -> Change:
    """Request a return of items of a delivered order. The refund goes to the order's original payment method or
    to one of the customer's gift cards. Can be done once per order: collect every item first."""
    order = await load_order(ctx.session, ctx.customer_id, args.order_id)
    require_status(order, exactly="delivered")
    method = await load_payment_method(ctx.session, ctx.customer_id, args.payment_method_id)
    if method.id != original_payment_method_id(order) and not is_gift_card(method):
        raise PreconditionFailed(
            "a refund goes to the payment method the order was paid with, or to a gift card",
            code="refund_method_not_allowed",
        )
    require_items_in_order(order, list(args.item_ids))
    prices = item_prices(order)
    refund = sum(prices[item_id] for item_id in args.item_ids)

    async def apply() -> dict[str, Any]:
        await claim_order(ctx.session, order)
        order.status = "return requested"
        order.return_items = sorted(args.item_ids)
        order.return_payment_method_id = method.id
        return await saved_json(ctx, order)

    return Change(
        apply=apply,
        order_id=order.order_id,
        amount_cents=refund,
        refund_cents=refund,
        summary=summaries.return_items(order, list(args.item_ids), refund, method),
    )
