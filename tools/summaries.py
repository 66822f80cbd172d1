"""How a planned write reads to the customer who must confirm it: built from the store's data (the order as
stored, the payment method's id), never from what the model wrote about it."""

from __future__ import annotations


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def method_words(method_id: str) -> str:
    """A payment method id as a customer reads it: `gift_card_1725971` is "gift card ending 1725971"."""
    kind, _, number = method_id.rpartition("_")
    if not kind or not number.isdigit():
        return method_id.replace("_", " ")
    return f"{kind.replace('_', ' ').replace('paypal', 'PayPal')} ending {number}"


def address_words(address: dict[str, str]) -> str:
    parts = [address.get(key, "") for key in ("address1", "address2", "city", "state", "zip", "country")]
    return ", ".join(p for p in parts if p)
