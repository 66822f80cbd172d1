"""What the customer's side of the API answers with: conversations, messages, runs and confirmations. The message
and run objects (and the confirmation card) are defined in `agent.views`, because the conversation feed's events
carry them too."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from agent.views import (
    MessageOut,
    ModelOut,
    PendingActionOut,
    PendingConfirmationOut,
    RunFlagOut,
    RunOut,
    RunStatus,
    UsageOut,
)
from api.schemas.base import Schema

__all__ = [
    "ConfirmationAnswerOut",
    "ConfirmationOut",
    "ConversationDetailOut",
    "ConversationOut",
    "FeedbackOut",
    "HandoffRefOut",
    "HeldCallOut",
    "MessageOut",
    "ModelOut",
    "PendingActionOut",
    "PendingConfirmationOut",
    "RunFlagOut",
    "RunOut",
    "RunStatus",
    "SendMessageOut",
    "UsageOut",
]


class ConversationOut(Schema):
    id: str
    customer_id: str
    """The store's `user_id` of the customer the conversation belongs to."""
    created_at: datetime


class HandoffRefOut(Schema):
    id: str
    status: str
    """`queued` or `claimed`."""


class SendMessageOut(Schema):
    """The answer to a customer's message."""

    message: MessageOut
    """The customer's message as stored."""
    run: RunOut | None
    """The run that answered it; None when a person of the support team owns the conversation."""
    handoff: HandoffRefOut | None = None
    """Set when the message went to the person who owns the conversation instead of the assistant."""


class HeldCallOut(Schema):
    """A tool call the service held for someone's answer: the customer's confirmation, or a support agent's
    approval. Answered ones stay listed, so a page opened again can show how each ended."""

    id: str
    kind: Literal["confirmation", "approval"]
    status: str
    """As on the confirmation (`pending`, `approved`, `executed`, `failed`, `escalated`, `rejected`, `withdrawn`,
    `expired`); an approval has the same statuses but `escalated` and `withdrawn`."""
    decision: str | None
    """None while pending; otherwise as the feed's `confirmation.decided` and `approval.decided` say it. A
    confirmation: `confirm`, `decline`, `withdrawn` (a new message came first) or `expired`. An approval:
    `approved`, `amended` (approved with changed arguments), `rejected` or `expired`."""
    tool: str
    summary: str
    """What the call does, in the store's words."""
    amount: float
    """Dollars the call moves as proposed (0 for none)."""
    decided_amount: float | None
    """Dollars the call moves as approved, when staff approved it (differs from `amount` when amended)."""
    note: str | None
    """Staff's note on their decision; None for a confirmation."""
    run_id: str
    """The run that paused for it."""
    created_at: datetime
    expires_at: datetime
    decided_at: datetime | None


class ConversationDetailOut(ConversationOut):
    messages: list[MessageOut]
    """Oldest first."""
    runs: list[RunOut]
    """Oldest first."""
    held_calls: list[HeldCallOut]
    """Every confirmation and approval of the conversation, answered or not, oldest first."""
    handoff: HandoffRefOut | None
    """The conversation's open hand-off (`queued` or `claimed`), if it waits for or is with a person now."""


class ConfirmationOut(Schema):
    """A confirmation after the customer's answer."""

    id: str
    status: str
    """`pending`, `approved` (confirmed, about to run), `executed`, `failed`, `escalated` (held for a person of
    the support team), `rejected` (declined), `withdrawn` (a new message came first) or `expired`."""
    decision: str | None
    """`confirmed`, `declined` or `expired`; None while pending."""
    tool: str
    arguments: dict[str, Any]
    summary: str
    expires_at: datetime
    decided_at: datetime | None
    result: dict[str, Any] | None
    """What the store answered when the action ran."""
    resumed_run_id: str | None


class ConfirmationAnswerOut(Schema):
    confirmation: ConfirmationOut
    run: RunOut | None
    """The run that resumed after the answer and told the customer the outcome."""


class FeedbackOut(Schema):
    """A customer's verdict on an answer, as stored."""

    run_id: str
    helpful: bool
    comment: str | None
    """The comment as stored: trimmed, invisible characters taken out; None without one."""
    created_at: datetime
