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

FLAG_WORDS = {
    "ungrounded_order": "names an order the run never saw",
    "ungrounded_amount": "states an amount the run never saw",
    "ungrounded_tracking": "states a tracking number the run never saw",
    "ungrounded_date": "states a date the run never saw",
    "ungrounded_item": "names an item the run never saw",
    "ungrounded_payment": "names a payment method the run never saw",
    "ungrounded_policy": "states a store rule no help-centre passage in the run says",
    "fallback": "answered by a fallback model",
    "provider_refusal": "the model provider refused to answer",
    "budget_exhausted": "a budget ran out",
    "failed": "the run failed",
    "thumbs_down": "the customer said the answer did not help",
}
"""A run's flags (`agent.quality.flags.FlagKind`), in words for the run review."""


def handoff_reason(code: str) -> str:
    return HANDOFF_REASONS.get(code, code.replace("_", " "))


def flag_words(kind: str) -> str:
    return FLAG_WORDS.get(kind, kind.replace("_", " "))
