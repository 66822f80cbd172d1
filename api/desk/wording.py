"""A held action in plain words, for the approver: what will happen to which order, and for how much.

The words are the held call's summary, which the tool built from the store's data and named as the customer
knows things (`tools.summaries`): the approver reads what the customer confirmed. An approval stored without one
(made before summaries existed) is described from its arguments."""

from __future__ import annotations

from typing import Any


def _items(arguments: dict[str, Any], key: str) -> str:
    items = arguments.get(key) or []
    return ", ".join(str(i) for i in items) if isinstance(items, list) else str(items)


def describe(tool: str, arguments: dict[str, Any], amount: float, summary: str | None = None) -> str:
    if summary:
        reason = arguments.get("reason")
        return f"{summary[:1].upper()}{summary[1:]}" + (f" (reason: {reason})." if reason else ".")
    order = arguments.get("order_id", "")
    money = f"${amount:,.2f}"
    match tool:
        case "issue_refund":
            return (
                f"Refund {money} to the original payment method of order {order} (reason: {arguments.get('reason')})."
            )
        case "cancel_pending_order":
            return f"Cancel order {order} and refund {money} (reason: {arguments.get('reason')})."
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
            shown = ", ".join(f"{k} = {v}" for k, v in arguments.items())
            return f"Run {tool.replace('_', ' ')} with {shown} ({money})."
