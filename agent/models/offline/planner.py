"""The offline model's decisions: from a conversation to the next tool calls or the next words.

It behaves like a careful support agent: look the record up, ask for what is missing, then propose exactly the
tool call a real model would make, and report the result. A write waits for the customer's Confirm, which the
service asks for (`agent.confirmations`), not the model; the policy still decides every call, and the planner
never assumes an action went through.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from agent.models.offline import wording
from agent.models.offline.conversation import Conversation, ToolOutcome
from agent.models.offline.reading import Intent

Call = tuple[str, dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Plan:
    text: str = ""
    calls: tuple[Call, ...] = ()


def say(text: str) -> Plan:
    return Plan(text=text)


def use(*calls: Call) -> Plan:
    return Plan(calls=calls)


DOING = {
    "cancel_pending_order": "cancel that order",
    "return_delivered_order_items": "start that return",
    "exchange_delivered_order_items": "make that exchange",
    "modify_pending_order_items": "change those items",
    "modify_pending_order_address": "change that order's address",
    "modify_customer_address": "change your default address",
    "modify_pending_order_payment": "change that order's payment method",
    "issue_refund": "give that refund",
    "transfer_to_human_agents": "reach a colleague",
}


def plan(c: Conversation) -> Plan:
    if c.notice is not None and not c.last_outcomes:
        return say(decided(c.notice))
    written = [o for o in c.last_outcomes if o.name in DOING]
    if written:
        return say(report(written[0]))
    if c.facts.failures:
        return say(wording.failure("look that up", c.facts.failures[0].content))
    intent = c.intent or (Intent.STATUS if c.slots.order_ids else None)
    if intent is None:
        return say(wording.GREETING)
    return HANDLERS[intent](c)


def decided(notice: dict[str, Any]) -> str:
    """The customer's answer once a team member has decided on a held action."""
    tool = str(notice.get("tool", ""))
    doing = DOING.get(tool, "do that")
    note = str(notice.get("note") or "").strip().rstrip(".")
    if notice.get("kind") == "confirmation":
        if notice.get("decision") != "confirmed":
            return "Alright, I haven't changed anything."
        confirmed = ToolOutcome(tool, notice.get("arguments"), ok=bool(notice.get("ok")), content=notice.get("result"))
        return report(confirmed)
    if notice.get("decision") == "rejected":
        because = f": {note}" if note else ""
        return f"A team member reviewed my request to {doing} and declined it{because}. Nothing was changed."
    if notice.get("decision") == "expired":
        return "The request wasn't reviewed in time, so nothing was changed. A team member will follow up."
    outcome = ToolOutcome(tool, notice.get("arguments"), ok=bool(notice.get("ok")), content=notice.get("result"))
    return "A team member approved it. " + report(outcome)


def report(outcome: ToolOutcome) -> str:
    if not outcome.ok:
        return wording.failure(DOING.get(outcome.name, "do that"), outcome.content)
    order = outcome.content if isinstance(outcome.content, dict) else {}
    if order.get("status") == "awaiting_approval":
        return (
            "That request is already waiting for a team member's review, so I haven't sent it again. "
            "You'll get the answer here."
        )
    order_id = order.get("order_id", "")
    args = outcome.arguments if isinstance(outcome.arguments, dict) else {}
    match outcome.name:
        case "cancel_pending_order":
            return (
                f"Done: order {order_id} is cancelled. The refund goes back to the original payment method: gift "
                "cards at once, cards and PayPal within 5 to 7 business days."
            )
        case "return_delivered_order_items":
            return (
                f"Done: the return from order {order_id} is registered. The refund goes to "
                f"{args.get('payment_method_id')} once the items reach us; you'll get an email with instructions."
            )
        case "exchange_delivered_order_items":
            return (
                f"Done: the exchange for order {order_id} is registered. You'll get an email on how to send the "
                "items back; the new ones ship once they arrive."
            )
        case "modify_pending_order_items":
            return f"Done: order {order_id} is updated. " + wording.describe_order(order)
        case "modify_pending_order_address":
            return f"Done: order {order_id} will ship to {wording.describe_address(order.get('address', {}))}."
        case "modify_customer_address":
            return f"Done: your default address is now {wording.describe_address(order.get('address', {}))}."
        case "modify_pending_order_payment":
            return f"Done: order {order_id} is now paid with {args.get('payment_method_id')}."
        case "issue_refund":
            return (
                f"Done: I've refunded {wording.usd(args.get('amount', 0))} on order {order_id} to its original "
                "payment method."
            )
    return "Done."


def need_order(c: Conversation, doing: str) -> Plan | dict[str, Any]:
    """The order the thread is about, read in this run; or the step that gets it."""
    if not c.slots.order_ids:
        if c.facts.profile is None:
            return use(("get_customer_profile", {}))
        return say(wording.ask_which_order(c.facts.profile, doing))
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


def chosen_items(c: Conversation, order: dict[str, Any]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = order.get("items", [])
    if c.slots.everything:
        return items
    by_id = [item for item in items if item["item_id"] in c.slots.item_ids]
    if by_id:
        return by_id
    return [item for item in items if item["name"].lower() in c.slots.words]


def ask_items(order: dict[str, Any], doing: str) -> Plan:
    listing = "; ".join(wording.item_line(item) for item in order.get("items", []))
    return say(f"Order {order['order_id']} has: {listing}. Which of them would you like to {doing}?")


def choose_method(c: Conversation, order: dict[str, Any], *, allow_original: bool) -> Plan | str:
    """The payment method the customer named, or the order's original one where that is a valid default."""
    if c.slots.method_ids:
        return c.slots.method_ids[0]
    original = next(iter(p["payment_method_id"] for p in order.get("payment_history", [])), None)
    if c.slots.method_kind is None and allow_original and original:
        return str(original)
    if c.facts.profile is None:
        return use(("get_customer_profile", {}))
    methods = [m for m in c.facts.profile.get("payment_methods", {}).values() if allow_original or m["id"] != original]
    fitting = [m for m in methods if m.get("source") == c.slots.method_kind]
    if len(fitting) == 1:
        return str(fitting[0]["id"])
    listing = "; ".join(wording.describe_method(m) for m in (fitting or methods)) or "none on file"
    return say(f"Which payment method should I use? You have: {listing}?")


def handle_status(c: Conversation) -> Plan:
    order = need_order(c, "look up")
    if isinstance(order, Plan):
        return order
    return say(wording.describe_order(order))


def handle_account(c: Conversation) -> Plan:
    if c.facts.profile is None:
        return use(("get_customer_profile", {}))
    return say(wording.describe_account(c.facts.profile))


def handle_human(c: Conversation) -> Plan:
    said = re.sub(r"[\x00-\x08\x0b-\x1f]", " ", c.slots.words)[-1500:].strip() or "(no details given)"
    return use(("transfer_to_human_agents", {"summary": f"The customer asked for a person. They wrote: {said}"}))


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
    """The new variant for each old item, matched by product. None until the customer has named one for each."""
    wanted = [i for i in c.slots.item_ids if i not in {item["item_id"] for item in old}]
    pairs: list[dict[str, Any]] = []
    for item in old:
        variants = c.facts.products[item["product_id"]]["variants"]
        match = next((variants[i] for i in wanted if i in variants and variants[i] not in pairs), None)
        if match is None:
            return None
        pairs.append(match)
    return pairs


def ask_variants(c: Conversation, old: list[dict[str, Any]]) -> str:
    lines = []
    for item in old:
        variants = c.facts.products[item["product_id"]]["variants"].values()
        choices = [v for v in variants if v.get("available") and v["item_id"] != item["item_id"]]
        listing = "; ".join(
            f"{v['item_id']}: {wording.options(v['options'])}, {wording.usd(v['price'])}" for v in choices
        )
        lines.append(f"For the {item['name']}, available options are {listing or 'none right now'}.")
    return " ".join(lines) + " Which item id would you like instead?"


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
    reason = re.sub(r"[\x00-\x08\x0b-\x1f]", " ", c.slots.words)[-300:].strip() or "goodwill"
    arguments = {"order_id": order["order_id"], "amount": float(amount), "reason": f"Customer request: {reason}"}
    return use(("issue_refund", arguments))


def handle_question(c: Conversation) -> Plan:
    """Answer from the help centre's best passage, with its link; never start an action for a question."""
    if c.facts.help_centre is None:
        question = re.sub(r"[\x00-\x08\x0b-\x1f]", " ", c.latest.slots.words)[-500:].strip()
        return use(("search_help_centre", {"query": question or "help"}))
    return say(wording.help_centre_answer(c.facts.help_centre))


HANDLERS = {
    Intent.QUESTION: handle_question,
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
