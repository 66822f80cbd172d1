"""What the customer's side of the API answers with: conversations, messages, runs and confirmations."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from api.schemas.base import Schema

RunStatus = Literal[
    "running",
    "completed",
    "awaiting_confirmation",
    "awaiting_approval",
    "handed_off",
    "budget_exhausted",
    "failed",
]


class ConversationOut(Schema):
    id: str
    customer_id: str
    """The store's `user_id` of the customer the conversation belongs to."""
    created_at: datetime


class MessageOut(Schema):
    id: int | None = None
    """Increasing within a conversation: the order messages were stored in."""
    role: str
    """`customer`, `assistant`, or `agent` (a person of the support team, named by `author_id`)."""
    content: str
    created_at: datetime
    author_id: str | None = None
    """The staff id of the person who wrote an `agent` message."""


class PendingActionOut(Schema):
    """An action the run holds for a person of the support team to approve."""

    approval_id: str
    status: str
    """`pending` while it waits; then `approved`, `rejected`, `expired`, `executed` or `failed`."""
    tool: str
    arguments: dict[str, Any]
    amount: float
    """The money the action moves, in dollars."""
    approver_role: str
    """The least senior role that may decide it: `agent` or `supervisor`."""
    expires_at: datetime


class PendingConfirmationOut(Schema):
    """A change to the customer's orders or account that waits for the customer's own Confirm or Decline."""

    id: str
    """Answer it at `POST /v1/conversations/{id}/confirmations/{this id}`."""
    tool: str
    arguments: dict[str, Any]
    summary: str
    """What will happen, built from the store's data, e.g. "Cancel order #W2611340: 2 items, $536.65 back to
    gift card ending 1725971". Show this to the customer, not the model's words."""
    expires_at: datetime
    """After this the confirmation can no longer be answered, and nothing is changed."""


class ModelOut(Schema):
    provider: str
    """`anthropic`, `offline`, or `scripted` in tests."""
    name: str


class UsageOut(Schema):
    model_calls: int
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    cost_usd: float


class RunOut(Schema):
    """The service's answer to one customer message: the reply, or why there is none yet."""

    id: str
    status: RunStatus
    reply: str | None
    """What the customer reads. None while the run is still `running`."""
    pending_action: PendingActionOut | None
    """Set while the run waits for a person of the support team (`awaiting_approval`)."""
    pending_confirmation: PendingConfirmationOut | None
    """Set while the run waits for the customer to confirm or decline (`awaiting_confirmation`)."""
    trace_id: str | None
    """The run's OpenTelemetry trace, for a reviewer."""
    model: ModelOut
    usage: UsageOut
    budget_exhausted: str | None
    """Which budget ran out, when one did: `model_calls`, `wall_clock`, `tokens` or `cost`."""
    started_at: datetime
    finished_at: datetime | None
    resumed_from: str | None
    """The run this one continues after a decision (an approval or a confirmation)."""
    kb_version: str | None
    """The help centre's version the run's searches read; None when it did not search."""


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


class ConversationDetailOut(ConversationOut):
    messages: list[MessageOut]
    """Oldest first."""
    runs: list[RunOut]
    """Oldest first."""


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
