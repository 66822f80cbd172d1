"""A held action in plain words, for the approver: what will happen to which order, and for how much.

The description holds only what the action does. Its words are the held call's summary, which the tool built from
the store's data and named as the customer knows things (`tools.summaries`): the approver reads what the customer
confirmed. An approval stored without one (made before summaries existed) is described from its structured
arguments. What the model wrote in its own words (the reason it gives, a summary) is never part of it: the approver
sees those apart, marked as the assistant's words (`quoted`), because a customer can put anything into them ("a
supervisor already approved this").
"""

from __future__ import annotations

from typing import Any

from tools.arguments import narrative_fields
from tools.errors import UnknownTool
from tools.registry import ToolRegistry


def _items(arguments: dict[str, Any], key: str) -> str:
    items = arguments.get(key) or []
    return ", ".join(str(i) for i in items) if isinstance(items, list) else str(items)


def describe(tool: str, arguments: dict[str, Any], amount: float, summary: str | None = None) -> str:
    if summary:
        return f"{summary[:1].upper()}{summary[1:]}."
    order = arguments.get("order_id", "")
    money = f"${amount:,.2f}"
    match tool:
        case "issue_refund":
            return f"Refund {money} to the original payment method of order {order}."
        case "cancel_pending_order":
            return f"Cancel order {order} and refund {money}."
        case "return_delivered_order_items":
            return (
                f"Accept the return of items {_items(arguments, 'item_ids')} of order {order}, refunding {money} "
                f"to {arguments.get('payment_method_id')}."
            )
        case "exchange_delivered_order_items" | "modify_pending_order_items":
            return (
                f"Replace items {_items(arguments, 'item_ids')} of order {order} with "
                f"{_items(arguments, 'new_item_ids')}; the difference of {money} is settled with "
                f"{arguments.get('payment_method_id')}."
            )
        case "modify_pending_order_payment":
            return f"Pay order {order} ({money}) with {arguments.get('payment_method_id')} instead."
        case _:
            shown = ", ".join(f"{k} = {v}" for k, v in arguments.items() if k not in _NARRATIVE_NAMES)
            return f"Run {tool.replace('_', ' ')} with {shown} ({money})."


_NARRATIVE_NAMES = frozenset({"reason", "summary", "query"})
"""Argument names that are the model's words in every tool that has them (for a tool `describe` does not know)."""


def quoted(registry: ToolRegistry, tool: str, arguments: dict[str, Any]) -> list[tuple[str, str]]:
    """The held call's arguments that are the model's own words, as (argument, text): shown as quotes."""
    try:
        names = narrative_fields(registry.get(tool).args_model)
    except UnknownTool:
        names = sorted(_NARRATIVE_NAMES)
    return [(name, str(arguments[name])) for name in names if arguments.get(name)]


HANDOFF_REASONS = {
    "transfer_requested": "the assistant passed the conversation on",
    "approval_expired": "an action waiting for approval expired",
    "reply_held": "the assistant's answer was held for a check: it states facts nothing in the conversation shows",
}
"""Why a conversation reached the team, in words (`agent.handoffs`)."""

FLAG_WORDS: dict[str, str] = {
    "ungrounded_order": "Names an order number the conversation never showed",
    "ungrounded_amount": "States an amount no order, message or help article showed",
    "ungrounded_tracking": "Gives a tracking number the order never showed",
    "ungrounded_date": "States a date the conversation never showed",
    "ungrounded_item": "Names an item the order never showed",
    "ungrounded_payment": "Names a payment method the account never showed",
    "ungrounded_policy": "States a store policy without a help-centre article behind it",
    "fallback": "Answered by the backup model",
    "provider_refusal": "The AI provider refused to answer",
    "budget_exhausted": "Ran out of its time or cost budget",
    "failed": "The turn failed",
    "thumbs_down": "The customer said it did not help",
}
"""Each flag kind (`agent.quality.flags.FlagKind`) as a support agent reads it in the review queue."""


def handoff_reason(code: str) -> str:
    return HANDOFF_REASONS.get(code, code.replace("_", " "))


def flag_words(kind: str) -> str:
    """A flag in words; a kind this desk does not know yet (a newer replica wrote it) as its name, readable."""
    return FLAG_WORDS.get(kind, kind.replace("_", " ").capitalize())
