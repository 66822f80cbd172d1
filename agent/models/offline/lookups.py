"""The offline model's read-only side: finding the order a request is about, and answering from the records.

A customer often does not give the order id ("cancel my skateboard order"): the model reads their orders and
keeps those in the state the request needs, narrowed by the items they named. One left is the order; several
are listed (only those) for the customer to choose from. Nothing here changes the store.
"""

from __future__ import annotations

from typing import Any

from agent.models.offline import wording
from agent.models.offline.conversation import Conversation
from agent.models.offline.plans import Plan, say, use
from agent.models.offline.reading.intents import Intent
from agent.models.offline.reading.matching import matching_items, words_of
from agent.models.offline.reading.patterns import pattern, without_controls
from agent.models.offline.reading.text import language_of

MAX_ORDERS_READ = 10
"""Orders read to find the one meant; a customer with more is asked for the id."""

NEEDED_STATUS: dict[Intent, tuple[str, ...]] = {
    Intent.CANCEL: ("pending",),
    Intent.ADDRESS: ("pending",),
    Intent.PAYMENT: ("pending",),
    Intent.RETURN: ("delivered",),
    Intent.SWAP: ("pending", "delivered"),
    Intent.PROBLEM: ("delivered", "processed"),
}
MAX_OPTIONS_LISTED = 8
_ORDER_ID_WORDS = pattern(r"#?\s?\b[Ww]\d{7}\b|\border\b")
_ASKS_CONTENTS = pattern(r"\bwhat('s| is| was) in\b|\bwhat did i (order|buy)\b|\bwhich items\b")


def need_order(c: Conversation, doing: str) -> Plan | dict[str, Any]:
    """The order the thread is about, read in this run; or the step that gets it."""
    if not c.slots.order_ids:
        return find_order(c, doing)
    order_id = c.slots.order_ids[0]
    order = c.facts.orders.get(order_id)
    if order is None:
        return use(("get_order_details", {"order_id": order_id}))
    return order


def need_status(order: dict[str, Any], wanted: str, doing: str) -> Plan | None:
    if order["status"] == wanted:
        return None
    return say(
        f"Order {order['order_id']} {wording.status_phrase(order['status'])}, so I can't {doing}: that needs a "
        f"{wanted} order."
    )


def find_order(c: Conversation, doing: str) -> Plan | dict[str, Any]:
    """The order the customer means without naming it, or the question that lists the ones it could be."""
    if c.facts.profile is None:
        return use(("get_customer_profile", {}))
    order_ids = [str(o) for o in c.facts.profile.get("orders", [])]
    if len(order_ids) > MAX_ORDERS_READ:
        return say(wording.ask_which_order([], doing))
    unread = [o for o in order_ids if o not in c.facts.orders and not c.looked_up("get_order_details", o)]
    if unread:
        return use(*(("get_order_details", {"order_id": o}) for o in unread))
    orders = [c.facts.orders[o] for o in order_ids if o in c.facts.orders]
    needed = NEEDED_STATUS.get(c.intent) if c.intent else None
    fitting = [o for o in orders if needed is None or o["status"] in needed]
    named = [o for o in fitting if matching_items(o.get("items", []), c.slots.words)]
    candidates = named or fitting
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        return say(f"None of your orders is {' or '.join(needed or ())} right now, so I can't {doing} any of them.")
    return say(wording.ask_which_order(candidates, doing))


def handle_status(c: Conversation) -> Plan:
    """The order's state, items, tracking and payments; only its items when that is what was asked."""
    order = need_order(c, "look up")
    if isinstance(order, Plan):
        return order
    if _ASKS_CONTENTS.search(c.latest.slots.words):
        return say(f"Order {order['order_id']} contains: {wording.items_list(order)}.")
    return say(wording.describe_order(order, c.facts.profile))


def handle_account(c: Conversation) -> Plan:
    if c.facts.profile is None:
        return use(("get_customer_profile", {}))
    return say(wording.describe_account(c.facts.profile))


def handle_options(c: Conversation) -> Plan:
    """The other options the items of an order come in, read from the product's variants."""
    order = need_order(c, "look at")
    if isinstance(order, Plan):
        return order
    items = [i for i in order.get("items", []) if i["item_id"] in c.slots.item_ids] or matching_items(
        order.get("items", []), c.slots.words
    )
    items = items or order.get("items", [])
    missing = sorted({item["product_id"] for item in items} - set(c.facts.products))
    if missing:
        return use(*(("get_product_details", {"product_id": product_id}) for product_id in missing))
    lines = []
    for item in items:
        variants = c.facts.products[item["product_id"]].get("variants", {}).values()
        others = [v for v in variants if v.get("available") and v["item_id"] != item["item_id"]]
        listing = "; ".join(
            f"{wording.option_values(v.get('options', {}))} ({wording.usd(v['price'])})"
            for v in others[:MAX_OPTIONS_LISTED]
        )
        more = f"; and {len(others) - MAX_OPTIONS_LISTED} more" if len(others) > MAX_OPTIONS_LISTED else ""
        lines.append(
            f"The {wording.item_name(item)} also comes in: {listing}{more}."
            if others
            else f"The {wording.item_name(item)} has no other options available right now."
        )
    return say(" ".join(lines))


def handle_catalogue(c: Conversation) -> Plan:
    if c.facts.catalogue is None:
        return use(("list_product_types", {}))
    names = sorted(str(name) for name in c.facts.catalogue)
    return say(f"We sell: {', '.join(names)}." if names else "Our catalogue is empty right now.")


def handle_question(c: Conversation) -> Plan:
    """Answer from the help centre's passages that answer the question, with the link; say so and offer a
    person when none does. Never start an action for a question."""
    if c.facts.help_centre is None:
        return use(("search_help_centre", {"query": question_of(c)}))
    answer = wording.help_centre_answer(c.facts.help_centre, language_of(c.slots.words))
    return say(answer or wording.NOTHING_IN_HELP_CENTRE)


def question_of(c: Conversation) -> str:
    """The words to search with: the newest message when it is the question, else the request's own words."""
    latest = c.latest
    asked = latest.slots.words if latest.intent in (Intent.QUESTION, Intent.PROBLEM) else c.slots.words
    return without_controls(asked)[-500:].strip() or "help"


def what_went_wrong(c: Conversation, order: dict[str, Any]) -> str:
    """The customer's words about the problem, without the order's id and its items' names: "the water bottle
    from #W4435622 arrived damaged" is searched as "the from arrived damaged", which the article on damaged
    items answers, while the bottle's name would only dilute the question."""
    named = {w for item in order.get("items", []) for w in words_of(item["name"])}
    said = _ORDER_ID_WORDS.sub(" ", question_of(c))
    kept = [w for w in said.split() if w.strip(".,!?").lower() not in named]
    return " ".join(kept) or "problem with my order"


def handle_problem(c: Conversation) -> Plan:
    """A delivered (or shipped) order reported missing, damaged or wrong: its state, the help centre's article
    for that case, and the offer of a person who can look into it. The assistant cannot open an investigation
    with the carrier or judge a damage claim; a team member can."""
    order = need_order(c, "look into")
    if isinstance(order, Plan):
        return order
    if order["status"] == "pending":
        return say(wording.describe_order(order, c.facts.profile))
    if c.facts.help_centre is None:
        return use(("search_help_centre", {"query": what_went_wrong(c, order)}))
    answer = wording.help_centre_answer(c.facts.help_centre, language_of(c.slots.words))
    sorry = f"I'm sorry to hear that. Order {order['order_id']} {wording.status_phrase(order['status'])}."
    article = f" {answer}" if answer else ""
    return say(f"{sorry}{article}\n\n{wording.offer_person_about(order['order_id'])}")
