"""How the offline model words its answers: from store records, in plain sentences.

Questions end with "?" and final answers do not; `conversation.py` relies on that to tell a thread that is
still open from one that is finished.

Replies name things as the customer knows them: "Visa ending 3194", "the Water Bottle (1000ml, glass,
blue)", never the store's internal ids (`credit_card_4190576`, 10-digit item ids), which mean nothing to a
customer and which the customer should never have to type. The names come from `tools.naming`, the one place
that names the store's records for every text a customer reads.
"""

from __future__ import annotations

import re
from typing import Any

from agent.models.offline.reading.patterns import pattern
from agent.models.offline.reading.social import Social
from tools import naming
from tools.knowledge.keyword import RELEVANT_ENOUGH

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

NOT_UNDERSTOOD = (
    "Sorry, I didn't understand that. I'm an automated assistant (offline mode) and only know certain requests: "
    "order status, cancellations, returns, exchanges, address or payment changes, or 'human' for a person."
)

SOCIAL_REPLIES = {
    Social.GREETING: GREETING,
    Social.HOW_ARE_YOU: "I'm doing well, thanks for asking. What can I help you with today: an order, a return or "
    "your account.",
    Social.WHO_ARE_YOU: "I'm the store's automated assistant, running in offline mode: a rule-based program, not a "
    "person. If you'd rather talk to a member of our team, just say 'human'.",
    Social.THANKS: "You're welcome! If there's anything else, I'm here.",
    Social.GOODBYE: "Thanks for getting in touch. Goodbye, and have a good day!",
}

LEFT_ALONE = "Alright, I'll leave that as it is."

ALSO_ASKED = "You also asked:"
"""Starts the question that quotes a request left for later; `conversation.py` reads the quote back."""


_JOINING_WORDS = pattern(
    r"^(?:(?:and|also|then|plus|but)\b[\s,]*+)++|(?<![\s,])[\s,]++(?:and|also|then|plus|but)$", re.IGNORECASE
)


def also_asked(request_text: str) -> str:
    quoted = _JOINING_WORDS.sub("", request_text.strip().strip(",;.!").replace('"', "'")).strip()
    return f'{ALSO_ASKED} "{quoted}". Shall I go on with that?'


usd = naming.usd
option_values = naming.option_values
item_name = naming.item
"""An item as the customer would say it: "Water Bottle (1000ml, glass, blue)"."""


def options(option_map: dict[str, Any]) -> str:
    return ", ".join(f"{name} {value}" for name, value in option_map.items())


def item_line(item: dict[str, Any]) -> str:
    return f"{item_name(item)} {usd(item['price'])}"


def status_phrase(status: str) -> str:
    return STATUS_PHRASES.get(status, f"is '{status}'")


def items_list(order: dict[str, Any]) -> str:
    return "; ".join(item_line(item) for item in order.get("items", []))


def describe_order(order: dict[str, Any], profile: dict[str, Any] | None = None) -> str:
    lines = [f"Order {order['order_id']} {status_phrase(order['status'])}."]
    lines.append(f"Items: {items_list(order)}.")
    tracking = [t for f in order.get("fulfillments", []) for t in f.get("tracking_id", [])]
    if tracking:
        lines.append("Tracking number: " + ", ".join(tracking) + ".")
    payments = list(order.get("payment_history", []))
    if payments:
        lines.append(
            "Payments: "
            + "; ".join(
                f"{p['transaction_type']} of {usd(p['amount'])} ({method_name(p['payment_method_id'], profile)})"
                for p in payments
            )
            + "."
        )
    return " ".join(lines)


describe_address = naming.address


def describe_method(method: dict[str, Any], *, balance: bool = True) -> str:
    """ "Visa ending 3194", "gift card (balance $17.00)", "PayPal" (`tools.naming`)."""
    return naming.payment_method(method, balance=balance)


def method_name(method_id: str, profile: dict[str, Any] | None) -> str:
    """A payment method by the name the customer knows; from its kind alone when the profile is not at hand."""
    return naming.payment_method_by_id(method_id, (profile or {}).get("payment_methods"), balance=False)


def describe_account(profile: dict[str, Any]) -> str:
    name = profile.get("name", {}).get("first_name", "")
    orders = ", ".join(profile.get("orders", [])) or "none yet"
    methods = "; ".join(describe_method(m) for m in profile.get("payment_methods", {}).values()) or "none"
    return f"Hi {name}. Your orders: {orders}. Your payment methods: {methods}."


def ask_which_order(orders: list[dict[str, Any]], doing: str) -> str:
    """The orders it could be, each with what is in it, so the customer can pick one ("the second one")."""
    listing = "; ".join(
        f"{o['order_id']} ({', '.join(i['name'] for i in o.get('items', [])[:3])}; {o['status']})" for o in orders
    )
    choices = f": {listing}" if listing else " (its id looks like #W1234567)"
    return f"Which order would you like me to {doing}{choices}?"


def failure(doing: str, content: Any) -> str:
    """A tool's error result, told plainly. Policy refusals carry a message written for the customer."""
    error = content.get("error", {}) if isinstance(content, dict) else {}
    message = str(error.get("message") or "something went wrong on our side").rstrip(".")
    if error.get("code") == "policy_denied":
        return f"I'm sorry, I can't {doing}: {message}. A member of our team can help if you ask for a human."
    if error.get("code") == "not_found":
        return f"I couldn't find that on your account ({message}). Please check the id."
    return f"I couldn't {doing}: {message}."


OFFER_PERSON = "Would you like me to pass you to a member of our team?"
OFFER_PERSON_ABOUT_IT = "Would you like me to pass this to them?"
PERSON_OFFERS = (OFFER_PERSON, OFFER_PERSON_ABOUT_IT)
"""The endings of a reply that offers a person; a "yes" to it hands the conversation over (`planner.py`)."""

NOTHING_IN_HELP_CENTRE = (
    f"I'm sorry, I don't know the answer to that, and our help centre doesn't cover it. {OFFER_PERSON}"
)


def offer_person_about(order_id: str) -> str:
    return f"A member of our team can look into order {order_id} with you. {OFFER_PERSON_ABOUT_IT}"


def help_centre_answer(result: dict[str, Any], language: str = "en", max_chars: int = 700) -> str | None:
    """The passages of the best article that answer the question, each under its section's heading, cut at a
    sentence, with its title and link: the reply is only what the article says, and the customer can read the
    rest. None when no passage is relevant enough: the best of nothing is not an answer. The words around it
    are in the customer's language (`language`); the articles themselves are written in English, and the reply
    says so."""
    passages = [p for p in result.get("passages") or [] if _relevant(p)]
    if not passages:
        return None
    top = passages[0]
    # The best passage, then the article's next relevant ones while they fit: a short passage rarely says it all.
    same_article = [p for p in passages if p.get("article_id", top.get("article_id")) == top.get("article_id")]
    text = ""
    for passage in same_article:
        more = " ".join(str(passage.get("text", "")).replace("**", "").split())
        section = " ".join(str(passage.get("section") or "").split())
        if section and section != top.get("title"):  # the heading says what the passage is about
            more = f"{section}{'' if section[-1] in '?:.!' else ':'} {more}"
        if text and len(text) + len(more) + 1 > max_chars:
            break
        text = f"{text} {more}".strip()
    if len(text) > max_chars:
        cut = text[:max_chars]
        text = cut[: cut.rfind(". ") + 1] if ". " in cut else cut.rstrip() + "..."
    opening, source = _HELP_CENTRE_FRAMES.get(language, _HELP_CENTRE_FRAMES["en"])
    return f"{opening} {text}\n\n{source}: {top.get('title')} ({top.get('url')})"


def _relevant(passage: dict[str, Any]) -> bool:
    relevance = passage.get("relevance")
    return not isinstance(relevance, int | float) or relevance >= RELEVANT_ENOUGH


_HELP_CENTRE_FRAMES = {
    "en": ("From our help centre:", "Source"),
    "es": ("Esto dice nuestro centro de ayuda (el artículo está en inglés):", "Fuente"),
    "de": ("Das steht in unserem Hilfe-Center (der Artikel ist auf Englisch):", "Quelle"),
}
