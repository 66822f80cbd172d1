"""The one place that names the store's records the way their customer knows them.

A customer knows a card by its brand and last four digits ("Mastercard ending 2478"), PayPal as "PayPal", a gift
card by what is on it ("gift card (balance $17.00)"), an item by its product and options ("Water Bottle (1000ml,
glass, blue)"), an order by its number ("#W2611340") and an address as it would be written on a parcel. The
store's internal ids (`credit_card_9513926`, `gift_card_1725971`, 10-digit item and product ids, user ids) mean
nothing to them, and the digits of a payment method's id look like a card number that is not theirs: no text a
customer reads may contain them.

Every confirmation card, approval description, tool refusal and the offline model's replies name things through
here. The functions take the store's JSON shapes (`tools.store.records`' `*_json`, which are also what tools
return to a model), so the tools and the model that reads their results say the same words.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

KIND_WORDS = {"credit_card": "credit card", "gift_card": "gift card", "paypal": "PayPal"}
"""A payment method's `source` in words."""
ADDRESS_FIELDS = ("address1", "address2", "city", "state", "zip", "country")


def usd(amount: Any) -> str:
    """Dollars as the store's JSON holds them (a number or a decimal string): "$1,234.50"."""
    return f"${Decimal(str(amount)):,.2f}"


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def payment_method(method: Mapping[str, Any], *, balance: bool = True) -> str:
    """A payment method record: "Mastercard ending 2478", "PayPal", "gift card (balance $17.00)". A gift card
    has no number a customer sees; its balance tells it apart. Without it (`balance=False`, where the balance
    would be noise) it is "your gift card"."""
    source = str(method.get("source") or "")
    last_four = method.get("last_four")
    if last_four:
        brand = str(method.get("brand") or KIND_WORDS.get(source, "card"))
        return f"{brand.title() if brand.islower() else brand} ending {last_four}"
    if source == "gift_card":
        held = method.get("balance")
        return f"gift card (balance {usd(held)})" if balance and held is not None else "your gift card"
    return KIND_WORDS.get(source, "payment method")


def payment_method_kind(method_id: str) -> str:
    """What an id alone says about a method, for when its record is not at hand: "credit card", "PayPal"."""
    return KIND_WORDS.get(method_id.rpartition("_")[0], "payment method")


def payment_method_by_id(
    method_id: str, methods: Mapping[str, Mapping[str, Any]] | None = None, *, balance: bool = True
) -> str:
    """A method named by its id: from the customer's methods (the profile's `payment_methods`) when they are at
    hand, else "your credit card" / "your PayPal account" / "your gift card" from its kind alone."""
    method = (methods or {}).get(method_id)
    if isinstance(method, Mapping):
        return payment_method(method, balance=balance)
    kind = payment_method_kind(method_id)
    return "your PayPal account" if kind == "PayPal" else f"your {kind}"


def option_value(name: str, value: Any) -> str:
    """One option as it reads on its own: most values say it ("blue", "1000ml"), but "yes", "no", "none" and a
    bare number need the option's name ("waterproof", "no backlight", "size 12")."""
    text = str(value)
    if text == "yes":
        return name
    if text in ("no", "none"):
        return f"not {name}" if name.endswith("proof") else f"no {name}"
    if text.replace(".", "", 1).isdigit():
        return f"{name} {text}"
    return text


def option_values(options: Mapping[str, Any]) -> str:
    """ "1000ml, glass, blue"; "size 12, synthetic, waterproof"."""
    return ", ".join(option_value(str(name), value) for name, value in options.items())


def item(record: Mapping[str, Any]) -> str:
    """An order's item, or a product's variant with its product's name: "Water Bottle (1000ml, glass, blue)"."""
    options = record.get("options") or {}
    return f"{record.get('name', 'item')} ({option_values(options)})" if options else str(record.get("name", "item"))


def items(records: Iterable[Mapping[str, Any]]) -> str:
    """Several items in a sentence: "the Water Bottle (…) and the Desk Lamp (…)"; the same item twice is "2 × …"."""
    counted: dict[str, int] = {}
    for record in records:
        name = item(record)
        counted[name] = counted.get(name, 0) + 1
    named = [f"the {name}" if count == 1 else f"{count} × {name}" for name, count in counted.items()]
    if len(named) <= 1:
        return "".join(named)
    return ", ".join(named[:-1]) + " and " + named[-1]


def order(order_id: str) -> str:
    """An order by the number on the customer's receipt: "order #W2611340"."""
    return f"order {order_id}"


def address(record: Mapping[str, Any]) -> str:
    """An address as written on a parcel, on one line: "215 River Road, Suite 991, New York, NY, 10083, USA"."""
    return ", ".join(str(record[key]) for key in ADDRESS_FIELDS if record.get(key))
