"""How a planned write reads to the customer who must confirm it (and to the team member who may approve it):
built from the store's data (the order as stored, the payment methods' records), never from what the model
wrote about it, and naming every record through `tools.naming`. The method named is the one the money moves
to or from, with the amount it moves."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tools import naming
from tools.store.money import format_usd
from tools.store.records import payment_method_json
from tools.store.tables import Order, PaymentMethod, Variant


def method_name(method: PaymentMethod, *, balance: bool = True) -> str:
    """A stored payment method as its owner knows it (`tools.naming.payment_method`)."""
    return naming.payment_method(payment_method_json(method), balance=balance)


def _settled(difference_cents: int, method: PaymentMethod) -> str:
    """What a price difference does to the customer's money, and on which method."""
    if difference_cents > 0:
        return f"you pay {format_usd(difference_cents)} more, charged to {method_name(method)}"
    if difference_cents < 0:
        return f"{format_usd(-difference_cents)} back to {method_name(method)}"
    return "no price difference"


def cancel(order: Order, refunds: Sequence[tuple[PaymentMethod, int]]) -> str:
    money = " and ".join(f"{format_usd(cents)} back to {method_name(method)}" for method, cents in refunds)
    return f"cancel {naming.order(order.order_id)}: {naming.plural(len(order.items), 'item')}" + (
        f", {money}" if money else ", nothing to refund"
    )


def ship_to(order_id: str, address: Mapping[str, Any]) -> str:
    return f"ship {naming.order(order_id)} to {naming.address(address)}"


def default_address(address: Mapping[str, Any]) -> str:
    return f"change your default address to {naming.address(address)}"


def pay_with(order_id: str, amount_cents: int, new: PaymentMethod, old: PaymentMethod) -> str:
    return (
        f"pay {naming.order(order_id)} with {method_name(new)} instead: {format_usd(amount_cents)} is charged to it "
        f"and refunded to {method_name(old)}"
    )


def swap(order: Order, pairs: Sequence[tuple[int, Variant]], difference_cents: int, method: PaymentMethod) -> str:
    """An item change of a pending order, or an exchange of a delivered one: which items become which options."""
    changes = "; ".join(_swapped(order.items[position], variant) for position, variant in pairs)
    verb = "exchange" if order.status == "delivered" else "change"
    return f"{verb} {changes} in {naming.order(order.order_id)}: {_settled(difference_cents, method)}"


def _swapped(item: Mapping[str, Any], variant: Variant) -> str:
    """One item and what it becomes, naming only the options that change: "the Smart Thermostat (Google
    Assistant, stainless steel) for one in black"."""
    before = item.get("options") or {}
    changed = {name: value for name, value in variant.options.items() if before.get(name) != value}
    return f"the {naming.item(item)} for one in {naming.option_values(changed or variant.options)}"


def return_items(order: Order, item_ids: Sequence[str], refund_cents: int, method: PaymentMethod) -> str:
    returned = _items_by_id(order, item_ids)
    return (
        f"return {naming.items(returned)} from {naming.order(order.order_id)}: {format_usd(refund_cents)} back to "
        f"{method_name(method)}"
    )


def refund(order_id: str, amount_cents: int, method: PaymentMethod) -> str:
    return f"refund {format_usd(amount_cents)} on {naming.order(order_id)} to {method_name(method)}"


def _items_by_id(order: Order, item_ids: Sequence[str]) -> list[dict[str, Any]]:
    """The order's items for these ids, each id taken as often as it is listed (an order may hold one twice)."""
    left = list(order.items)
    found = []
    for item_id in item_ids:
        match = next((i for i in left if i["item_id"] == item_id), None)
        if match is not None:
            left.remove(match)
            found.append(match)
    return found
