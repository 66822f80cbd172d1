"""How a planned write reads to the customer who must confirm it: built from the store's data (the order as
stored, the payment method's record), never from what the model wrote about it. Payment methods are named as
the customer knows them ("Visa ending 3194"), not by the store's internal id."""

from __future__ import annotations

from typing import Protocol


class MethodRecord(Protocol):
    id: str
    source: str
    brand: str | None
    last_four: str | None


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def method_words(method_id: str) -> str:
    """A payment method id as a customer reads it: `gift_card_1725971` is "gift card ending 1725971"."""
    kind, _, number = method_id.rpartition("_")
    if not kind or not number.isdigit():
        return method_id.replace("_", " ")
    return f"{kind.replace('_', ' ').replace('paypal', 'PayPal')} ending {number}"


def payment_words(method: MethodRecord) -> str:
    """A stored payment method as its owner knows it: "Visa ending 3194", "gift card ending 1725971"."""
    if method.last_four:
        return f"{(method.brand or 'card').title()} ending {method.last_four}"
    return method_words(method.id)


def address_words(address: dict[str, str]) -> str:
    parts = [address.get(key, "") for key in ("address1", "address2", "city", "state", "zip", "country")]
    return ", ".join(p for p in parts if p)
