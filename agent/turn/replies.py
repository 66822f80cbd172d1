"""What the service itself says to the customer when the model does not get the last word."""

from __future__ import annotations

from collections.abc import Sequence

from policies.decision import Decision

NOTICE_PREFIX = "[service notice, not written by the customer]"
"""Starts every message the service writes into the model's history on the customer's side."""

BUDGET_EXHAUSTED = (
    "I'm sorry, this is taking me longer than it should, so I've stopped here; nothing was left half-done. "
    "Please ask again, or say 'human' and a member of our team will pick this up."
)
MODEL_FAILED = (
    "I'm sorry, I'm having trouble answering right now. Your message is saved; please try again in a moment, "
    "or say 'human' and a member of our team will pick this up."
)
HANDED_BACK = (
    "A member of our team has handed this conversation back to me, the store's automated assistant. Ask me "
    "anything here, or say 'human' to reach the team again."
)
HANDED_BACK_ANSWERING = (
    "A member of our team has handed this conversation back to me, the store's automated assistant. I'll answer "
    "what you wrote meanwhile."
)
HANDED_OFF = "I've passed this conversation to a person on our support team. They'll reply here as soon as they can."
REPLY_HELD = (
    "I want to be sure my answer is right, so I've asked a colleague from our support team to check it. They'll "
    "reply to you here as soon as they can."
)
REFUSED = "I'm sorry, I can't help with that here. If you'd like, a member of our support team can take a look."
CUT_SHORT = "(My answer was cut short. Please ask me to continue if you need the rest.)"
NOT_RUN_AFTER_PAUSE = "not run: it waits until a team member decides on an earlier action in this answer"
NOT_RUN_AFTER_HANDOFF = "not run: the conversation was handed to a human colleague"


def awaiting_approval(decision: Decision) -> str:
    action = f"I'd like to {decision.summary} for you. " if decision.summary else ""
    return action + decision.customer_message


NOT_RUN_AFTER_CONFIRMATION = "not run: it waits until the customer answers the confirmation of an earlier action"
ASKED_TO_CONFIRM = (
    "not run yet: the service has asked the customer to confirm this action with a Confirm or Decline button. "
    "Only that answer can make it run; you will be told the outcome."
)
CONFIRMATION_EXPIRED = (
    "The confirmation wasn't answered in time, so nothing was changed. Just ask if you still want it."
)


def confirm_please(summary: str | None) -> str:
    """The service's own words when a write waits for the customer: the action as the store data describe it."""
    action = f"{summary[:1].upper()}{summary[1:]}" if summary else "This change"
    return f"Please confirm: {action}. Nothing changes until you press Confirm; Decline cancels it."


APPROVAL_EXPIRED = (
    "The action I asked a team member to approve wasn't reviewed in time, so nothing was changed. I've passed "
    "this conversation to our support team, and a member of the team will follow up with you here."
)
DUPLICATE_PENDING = "this exact action is already waiting for a team member's decision; it was not submitted again"
DAILY_BUDGET_SPENT = (
    "I'm sorry, I can't take on more requests in this chat today. Your message is saved for our support team, "
    "and a member of the team can reply to you here."
)

_TOOL_WORDS = {
    "cancel_pending_order": "cancelled the order",
    "modify_pending_order_address": "changed the order's address",
    "modify_pending_order_payment": "changed the order's payment method",
    "modify_pending_order_items": "changed the order's items",
    "return_delivered_order_items": "started the return",
    "exchange_delivered_order_items": "started the exchange",
    "modify_customer_address": "updated your address",
    "issue_refund": "issued the refund",
    "transfer_to_human_agents": "passed the conversation to our team",
}


def interrupted(done: Sequence[str]) -> str:
    """The reply to a message whose answer was cut off by a failure on our side, saying what had been done."""
    tools = list(done)
    if not tools:
        return (
            "I'm sorry, something went wrong on our side while I was answering, and nothing was changed. "
            "Please send your message again."
        )
    did = "; ".join(dict.fromkeys(_TOOL_WORDS.get(str(t), "made a change") for t in tools))
    return (
        f"I'm sorry, something went wrong on our side while I was answering. Before it did, I {did}. "
        "Please tell me if there is anything else you need."
    )
