"""How the offline model words its answers: from store records, in plain sentences.

Questions end with "?" and final answers do not; `conversation.py` relies on that to tell a thread that is
still open from one that is finished.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

STATUS_PHRASES = {
    "pending": "is pending: it has not shipped yet, so it can still be changed or cancelled",
    "processed": "has been processed and shipped",
    "delivered": "was delivered",
    "cancelled": "is cancelled",
    "return requested": "has a return in progress",
    "exchange requested": "has an exchange in progress",
}

GREETING = (
    "Hello! I'm the store's automated assistant (offline mode). I can look up your orders, cancel or change a "
    "pending order, return or exchange delivered items, update an address or payment method, or pass you to a "
    "member of our team. Tell me what you need and include the order id, for example #W1234567."
)


def usd(amount: Any) -> str:
    return f"${Decimal(str(amount)):,.2f}"


def options(option_map: dict[str, Any]) -> str:
    return ", ".join(f"{name} {value}" for name, value in option_map.items())


def item_line(item: dict[str, Any]) -> str:
    return f"{item['name']} ({options(item.get('options', {}))}) {usd(item['price'])}, item id {item['item_id']}"


def status_phrase(status: str) -> str:
    return STATUS_PHRASES.get(status, f"is '{status}'")


def describe_order(order: dict[str, Any]) -> str:
    lines = [f"Order {order['order_id']} {status_phrase(order['status'])}."]
    lines.append("Items: " + "; ".join(item_line(item) for item in order.get("items", [])) + ".")
    tracking = [t for f in order.get("fulfillments", []) for t in f.get("tracking_id", [])]
    if tracking:
        lines.append("Tracking number: " + ", ".join(tracking) + ".")
    payments = list(order.get("payment_history", []))
    if payments:
        lines.append(
            "Payments: "
            + "; ".join(f"{p['transaction_type']} of {usd(p['amount'])} ({p['payment_method_id']})" for p in payments)
            + "."
        )
    return " ".join(lines)


def describe_address(address: dict[str, str]) -> str:
    parts = [address.get(key, "") for key in ("address1", "address2", "city", "state", "zip", "country")]
    return ", ".join(p for p in parts if p)


def describe_method(method: dict[str, Any]) -> str:
    source = str(method.get("source", "")).replace("_", " ")
    if "last_four" in method:
        return f"{method.get('brand', 'card')} ending {method['last_four']} ({method['id']})"
    if "balance" in method:
        return f"{source} {method['id']} (balance {usd(method['balance'])})"
    return f"{source} {method['id']}"


def describe_account(profile: dict[str, Any]) -> str:
    name = profile.get("name", {}).get("first_name", "")
    orders = ", ".join(profile.get("orders", [])) or "none yet"
    methods = "; ".join(describe_method(m) for m in profile.get("payment_methods", {}).values()) or "none"
    return f"Hi {name}. Your orders: {orders}. Your payment methods: {methods}."


def ask_which_order(profile: dict[str, Any] | None, doing: str) -> str:
    known = ", ".join(profile.get("orders", [])) if profile else ""
    listing = f"Your orders are {known}. " if known else ""
    return f"{listing}Which order would you like me to {doing} (its id looks like #W1234567)?"


def failure(doing: str, content: Any) -> str:
    """A tool's error result, told plainly. Policy refusals carry a message written for the customer."""
    error = content.get("error", {}) if isinstance(content, dict) else {}
    message = str(error.get("message") or "something went wrong on our side").rstrip(".")
    if error.get("code") == "policy_denied":
        return f"I'm sorry, I can't {doing}: {message}. A member of our team can help if you ask for a human."
    if error.get("code") == "not_found":
        return f"I couldn't find that on your account ({message}). Please check the id."
    return f"I couldn't {doing}: {message}."


NOTHING_IN_HELP_CENTRE = (
    "I couldn't find that in our help centre. I can pass you to a member of our team, or look up one of your "
    "orders if you tell me its id."
)


def help_centre_answer(result: dict[str, Any], max_chars: int = 700) -> str:
    """The top passage, cut at a sentence, with the article's title and link: the reply is only what the
    article says, and the customer can read the rest."""
    passages = result.get("passages") or []
    if not passages:
        return NOTHING_IN_HELP_CENTRE
    top = passages[0]
    text = " ".join(str(top.get("text", "")).replace("**", "").split())
    if len(text) > max_chars:
        cut = text[:max_chars]
        text = cut[: cut.rfind(". ") + 1] if ". " in cut else cut.rstrip() + "..."
    return f"From our help centre: {text}\n\nSource: {top.get('title')} ({top.get('url')})"
