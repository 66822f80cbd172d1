"""The offline model's decisions: from a conversation to the next tool calls or the next words.

It behaves like a careful support agent: look the record up, ask for what is missing, then propose exactly the
tool call a real model would make, and report the result. A write waits for the customer's Confirm, which the
service asks for (`agent.held.confirmations`), not the model; the policy still decides every call, and the planner
never assumes an action went through.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from agent.models.offline import outcomes, wording
from agent.models.offline.conversation import Conversation
from agent.models.offline.lookups import (
    handle_account,
    handle_catalogue,
    handle_options,
    handle_problem,
    handle_question,
    handle_status,
    need_order,
    need_status,
)
from agent.models.offline.outcomes import DOING
from agent.models.offline.plans import Plan, say, use
from agent.models.offline.reading.intents import Intent
from agent.models.offline.reading.matching import matching_items, matching_methods, matching_variants
from agent.models.offline.reading.patterns import without_controls
from agent.models.offline.reading.text import Request, Slots

WRITES = frozenset(DOING)


def plan(c: Conversation) -> Plan:
    if c.notice is not None and not c.last_outcomes:
        return then_the_rest(c, say(outcomes.decided(c.notice, c.proposed)))
    written = [o for o in c.last_outcomes if o.name in WRITES]
    if written:
        return then_the_rest(c, say(outcomes.report(written[0])))
    if c.facts.failures:
        return say(wording.failure("look that up", c.facts.failures[0].content))
    latest = c.latest
    if latest.angry:
        return hand_off(c, "The customer is upset, so the assistant passed them to a person straight away.")
    if offered_person(c) and latest.yes and not says_more(latest.slots):
        return hand_off(c, "The customer accepted the assistant's offer of a person.")
    if closes(c) or (c.intent is None and not c.slots.order_ids):
        return small_talk(c)  # "thanks" in the middle of a request ends it, rather than being read as an answer
    if latest.no and c.asked and not says_more(latest.slots):
        return say(wording.LEFT_ALONE)
    return not_twice(c, answer(c))


def offered_person(c: Conversation) -> bool:
    """Whether the assistant's last question offered a person ("Would you like me to pass you to...")."""
    return bool(c.asked) and c.asked[-1].endswith(wording.PERSON_OFFERS)


def closes(c: Conversation) -> bool:
    """Small talk in the middle of a request ("ok, thanks anyway") ends it; "yes, thanks" still answers a
    yes-or-no question."""
    latest = c.latest
    if latest.social is None or latest.intent is not None or says_more(latest.slots):
        return False
    asked_yes_or_no = bool(c.asked) and c.asked[-1].rpartition(". ")[2].startswith("Shall I")
    return not (latest.yes and asked_yes_or_no)


def small_talk(c: Conversation) -> Plan:
    """A message with no request: a short reply that fits it; a second message in a row the assistant cannot
    read gets a person, rather than the same apology again."""
    if c.latest.social is not None:
        return say(wording.SOCIAL_REPLIES[c.latest.social])
    if c.latest.no:
        return say(wording.LEFT_ALONE)
    if c.previous_reply == wording.NOT_UNDERSTOOD:
        return hand_off(c, "The offline assistant did not understand the customer twice in a row.")
    return say(wording.NOT_UNDERSTOOD)


def says_more(slots: Slots) -> bool:
    """Whether a message that starts with "no" also answers something ("no longer needed", "no, the red one")."""
    return bool(
        slots.order_ids
        or slots.item_ids
        or slots.method_ids
        or slots.method_kind
        or slots.cancel_reason
        or slots.address
        or slots.amount is not None
        or slots.ordinal is not None
    )


def not_twice(c: Conversation, step: Plan) -> Plan:
    """The same question twice in a row means the customer's answer was not understood: a person takes over
    instead of a loop."""
    if not step.calls and step.text.endswith("?") and step.text in c.asked:
        return hand_off(c, f"The offline assistant asked this twice without understanding the answer: {step.text}")
    return step


def answer(c: Conversation) -> Plan:
    """The current request, then any read-only ones after it (a status, a policy question) in the same reply.
    A further action is quoted back as a question, so each action is confirmed and reported on its own."""
    requests = [Request(c.intent or Intent.STATUS, c.slots, ""), *c.deferred]
    texts: list[str] = []
    for index, request in enumerate(requests):
        if index and not request.read_only:
            return say(" ".join([*texts, wording.also_asked(quoted(requests[index:]))]))
        step = HANDLERS[request.intent or Intent.STATUS](
            replace(c, intent=request.intent, slots=request.slots, deferred=())
        )
        if step.calls or step.text.endswith("?"):
            return step if not texts or step.calls else say(" ".join([*texts, step.text]))
        texts.append(step.text)
    return say(" ".join(texts))


def then_the_rest(c: Conversation, finished: Plan) -> Plan:
    """A finished action's report, asking about the next request of the same message, if there was one."""
    if not c.deferred:
        return finished
    return say(f"{finished.text} {wording.also_asked(quoted(list(c.deferred)))}")


def quoted(requests: list[Request]) -> str:
    return "; also ".join(r.text for r in requests)


def hand_off(c: Conversation, why: str) -> Plan:
    said = without_controls(c.slots.words or c.latest.slots.words)[-1200:].strip()
    summary = f"{why} They wrote: {said or '(no details given)'}"
    return use(("transfer_to_human_agents", {"summary": summary}))


def chosen_items(c: Conversation, order: dict[str, Any]) -> list[dict[str, Any]]:
    """The items the customer named: all of them, by id if they typed one, or by the words they used."""
    items: list[dict[str, Any]] = order.get("items", [])
    if c.slots.everything:
        return items
    by_id = [item for item in items if item["item_id"] in c.slots.item_ids]
    return by_id or matching_items(items, c.slots.words)


def ask_items(order: dict[str, Any], doing: str) -> Plan:
    listing = "; ".join(wording.item_line(item) for item in order.get("items", []))
    return say(f"Order {order['order_id']} has: {listing}. Which of them would you like to {doing}?")


def choose_method(c: Conversation, order: dict[str, Any], *, allow_original: bool) -> Plan | str:
    """The payment method the customer named, or the order's original one where that is a valid default.

    A method is named by its kind, brand or last digits, in the newest message first. When the customer's
    words fit none, or several, the question lists the choices by the names the customer knows; "yes"
    answers a question that offered one. The method an order is already paid with is said so, not offered."""
    if c.slots.method_ids:
        return c.slots.method_ids[0]
    original = next(iter(p["payment_method_id"] for p in order.get("payment_history", [])), None)
    if c.slots.method_kind is None and allow_original and original:
        return str(original)
    if c.facts.profile is None:
        return use(("get_customer_profile", {}))
    methods: list[dict[str, Any]] = list(c.facts.profile.get("payment_methods", {}).values())
    choices = [m for m in methods if allow_original or m["id"] != original]
    named = matching_methods(choices, c.latest.slots.words, c.latest.slots.method_kind) or matching_methods(
        choices, c.slots.words, c.slots.method_kind
    )
    offered = named or choices
    if len(named) == 1 or (c.latest.yes and len(offered) == 1):
        return str(offered[0]["id"])
    current = [m for m in methods if m["id"] == original]
    if not named and matching_methods(current, c.slots.words, c.slots.method_kind):
        return say(
            f"Order {order['order_id']} is already paid with {wording.describe_method(current[0], balance=False)}, "
            "so there is nothing to change."
        )
    if not offered:
        return say("You have no other payment method on file, so I can't change how this order is paid.")
    if len(offered) == 1:
        return say(f"Shall I use your {wording.describe_method(offered[0])}?")
    listing = "; ".join(wording.describe_method(m) for m in offered)
    return say(f"Which payment method should I use: {listing}?")


def handle_human(c: Conversation) -> Plan:
    return hand_off(c, "The customer asked for a person.")


def handle_cancel(c: Conversation) -> Plan:
    order = need_order(c, "cancel")
    if isinstance(order, Plan):
        return order
    if refused := need_status(order, "pending", "cancel it"):
        return refused
    reason = c.slots.cancel_reason
    if reason is None:
        return say(
            f"Why would you like to cancel order {order['order_id']}: 'no longer needed' or 'ordered by mistake'?"
        )
    return use(("cancel_pending_order", {"order_id": order["order_id"], "reason": reason}))


def handle_return(c: Conversation) -> Plan:
    order = need_order(c, "return items from")
    if isinstance(order, Plan):
        return order
    if refused := need_status(order, "delivered", "start a return"):
        return refused
    items = chosen_items(c, order)
    if not items:
        return ask_items(order, "return")
    method = choose_method(c, order, allow_original=True)
    if isinstance(method, Plan):
        return method
    arguments = {"order_id": order["order_id"], "item_ids": [i["item_id"] for i in items], "payment_method_id": method}
    return use(("return_delivered_order_items", arguments))


def handle_swap(c: Conversation) -> Plan:
    order = need_order(c, "change items of")
    if isinstance(order, Plan):
        return order
    tool = {"delivered": "exchange_delivered_order_items", "pending": "modify_pending_order_items"}.get(order["status"])
    if tool is None:
        return say(
            f"Order {order['order_id']} {wording.status_phrase(order['status'])}, so its items can't be changed: "
            "items of a pending order can be changed, and delivered items exchanged."
        )
    old = chosen_items(c, order)
    if not old:
        return ask_items(order, "exchange" if tool.startswith("exchange") else "change")
    missing = sorted({item["product_id"] for item in old} - set(c.facts.products))
    if missing:
        return use(*(("get_product_details", {"product_id": product_id}) for product_id in missing))
    new = paired_variants(c, old)
    if new is None:
        return say(ask_variants(c, old))
    method = choose_method(c, order, allow_original=True)
    if isinstance(method, Plan):
        return method
    arguments = {
        "order_id": order["order_id"],
        "item_ids": [i["item_id"] for i in old],
        "new_item_ids": [v["item_id"] for v in new],
        "payment_method_id": method,
    }
    return use((tool, arguments))


def paired_variants(c: Conversation, old: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """The new variant for each old item: by a typed item id, or the one available variant whose options the
    customer asked for. None until there is exactly one for each."""
    wanted = [i for i in c.slots.item_ids if i not in {item["item_id"] for item in old}]
    pairs: list[dict[str, Any]] = []
    for item in old:
        variants = c.facts.products[item["product_id"]]["variants"]
        match = next((variants[i] for i in wanted if i in variants and variants[i] not in pairs), None)
        fitting = matching_variants(item, variants.values(), c.slots.words)
        match = match or (fitting[0] if len(fitting) == 1 else None)
        if match is None:
            return None
        pairs.append(match)
    return pairs


def ask_variants(c: Conversation, old: list[dict[str, Any]]) -> str:
    """The options to choose from, narrowed to those that fit what the customer has said so far."""
    lines = []
    for item in old:
        variants = c.facts.products[item["product_id"]]["variants"].values()
        choices = matching_variants(item, variants, c.slots.words) or [
            v for v in variants if v.get("available") and v["item_id"] != item["item_id"]
        ]
        listing = "; ".join(f"{wording.option_values(v['options'])} ({wording.usd(v['price'])})" for v in choices)
        lines.append(f"For the {wording.item_name(item)}, the options available are: {listing or 'none right now'}.")
    return " ".join(lines) + " Which would you like instead?"


def handle_address(c: Conversation) -> Plan:
    address = c.slots.address
    ask = "What is the new address? Please write it as: street, apartment (if any), city, state, country, zip?"
    if c.slots.order_ids:
        order = need_order(c, "re-address")
        if isinstance(order, Plan):
            return order
        if refused := need_status(order, "pending", "change where it ships"):
            return refused
        if address is None:
            return say(ask)
        return use(("modify_pending_order_address", {"order_id": order["order_id"], **address}))
    if c.slots.default_address:
        if address is None:
            return say(ask)
        return use(("modify_customer_address", dict(address)))
    return say("Should I change where one order ships (tell me its id) or your default address?")


def handle_payment(c: Conversation) -> Plan:
    order = need_order(c, "pay differently")
    if isinstance(order, Plan):
        return order
    if refused := need_status(order, "pending", "change how it is paid"):
        return refused
    method = choose_method(c, order, allow_original=False)
    if isinstance(method, Plan):
        return method
    arguments = {"order_id": order["order_id"], "payment_method_id": method}
    return use(("modify_pending_order_payment", arguments))


def handle_refund(c: Conversation) -> Plan:
    order = need_order(c, "refund")
    if isinstance(order, Plan):
        return order
    amount = c.slots.amount
    if amount is None:
        return say(f"How much would you like refunded on order {order['order_id']}, in dollars?")
    reason = without_controls(c.slots.words)[-300:].strip() or "goodwill"
    arguments = {"order_id": order["order_id"], "amount": float(amount), "reason": f"Customer request: {reason}"}
    return use(("issue_refund", arguments))


HANDLERS = {
    Intent.QUESTION: handle_question,
    Intent.PROBLEM: handle_problem,
    Intent.OPTIONS: handle_options,
    Intent.CATALOGUE: handle_catalogue,
    Intent.STATUS: handle_status,
    Intent.ACCOUNT: handle_account,
    Intent.HUMAN: handle_human,
    Intent.CANCEL: handle_cancel,
    Intent.RETURN: handle_return,
    Intent.SWAP: handle_swap,
    Intent.ADDRESS: handle_address,
    Intent.PAYMENT: handle_payment,
    Intent.REFUND: handle_refund,
}
