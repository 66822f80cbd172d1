"""What the offline model tells the customer after a write: the tool's result, and, for a held action, what the
customer confirmed or what a team member decided, with any change they made and their note.

The approver may amend the arguments before approving (a lower refund, say): the notice carries the
arguments that ran, and the model compares them with the ones it proposed, so the customer hears what
actually happened rather than what was asked for.
"""

from __future__ import annotations

from typing import Any

from agent.models.offline import wording
from agent.models.offline.conversation import ToolOutcome

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


def decided(notice: dict[str, Any], proposed: dict[str, Any] | None) -> str:
    """The customer's answer once they confirmed, or a team member decided, a held action."""
    tool = str(notice.get("tool", ""))
    doing = DOING.get(tool, "do that")
    note = " ".join(str(notice.get("note") or "").split()).rstrip(".")
    if notice.get("kind") == "confirmation":
        if notice.get("decision") != "confirmed":
            return "Alright, I haven't changed anything."
        confirmed = ToolOutcome(tool, notice.get("arguments"), ok=bool(notice.get("ok")), content=notice.get("result"))
        return report(confirmed)
    their_note = f' Their note: "{note}".' if note else ""
    if notice.get("decision") == "rejected":
        reason = f' Their reason: "{note}".' if note else ""
        return f"A team member reviewed my request to {doing} and declined it.{reason} Nothing was changed."
    if notice.get("decision") == "expired":
        return "The request wasn't reviewed in time, so nothing was changed. A team member will follow up."
    ran = notice.get("arguments") if isinstance(notice.get("arguments"), dict) else {}
    changes = amendments(proposed or {}, ran or {})
    approved = f"A team member approved it with a change: {changes}." if changes else "A team member approved it."
    outcome = ToolOutcome(tool, ran, ok=bool(notice.get("ok")), content=notice.get("result"))
    return f"{approved}{their_note} {report(outcome)}"


def amendments(proposed: dict[str, Any], ran: dict[str, Any]) -> str:
    """What the approver changed, in words: "the amount is $120.00 instead of $200.00"."""
    said = []
    for name in sorted(set(proposed) | set(ran)):
        before, after = proposed.get(name), ran.get(name)
        if before == after or before is None:
            continue
        if name == "amount":
            said.append(f"the amount is {wording.usd(after)} instead of {wording.usd(before)}")
        elif name == "payment_method_id":
            said.append(f"the payment method is {wording.method_name(str(after), None)}")
        elif name in ("item_ids", "new_item_ids"):
            said.append("the items are different from the ones I asked for")
        elif name != "reason":
            said.append(f"the {name.replace('_', ' ')} was changed")
    return "; ".join(dict.fromkeys(said))


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
    method = wording.method_name(str(args.get("payment_method_id", "")), None)
    match outcome.name:
        case "cancel_pending_order":
            return (
                f"Done: order {order_id} is cancelled. The refund goes back to the original payment method: gift "
                "cards at once, cards and PayPal within 5 to 7 business days."
            )
        case "return_delivered_order_items":
            return (
                f"Done: the return from order {order_id} is registered. The refund goes to {method} once the items "
                "reach us; you'll get an email with instructions."
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
            return f"Done: order {order_id} is now paid with {method}."
        case "issue_refund":
            return (
                f"Done: I've refunded {wording.usd(args.get('amount', 0))} on order {order_id} to its original "
                "payment method."
            )
    return "Done."
