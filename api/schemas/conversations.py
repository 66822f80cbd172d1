"""What the customer's side of the API answers with: conversations, messages, runs and confirmations. The message
and run objects (and the confirmation card) are defined in `agent.conversations.records`, because the conversation
feed's events
carry them too."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from agent import (
    Approval,
    ApprovalStatus,
    ChatMessage,
    Conversation,
    Flag,
    Handoff,
    HeldKind,
    HeldKindName,
    MessageOut,
    ModelOut,
    PendingActionOut,
    PendingConfirmationOut,
    Run,
    RunFlagOut,
    RunOut,
    UsageOut,
    feed_decision,
    held_runs,
    human_decision,
    message_view,
    run_view,
)
from api.schemas.base import Schema
from tools.store.money import to_dollars
from tools.store.sanitize import visible, visible_json

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
    "SendMessageOut",
    "UsageOut",
]


class ConversationOut(Schema):
    id: str
    customer_id: str
    """The store's `user_id` of the customer the conversation belongs to."""
    created_at: datetime

    @classmethod
    def from_record(cls, conversation: Conversation) -> ConversationOut:
        return ConversationOut(
            id=conversation.id, customer_id=conversation.customer_id, created_at=conversation.created_at
        )


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
    kind: HeldKindName
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

    @classmethod
    def from_record(cls, held: Approval) -> HeldCallOut:
        decided = held.executed_amount_cents
        approval = held.kind == HeldKind.APPROVAL
        return cls(
            id=held.id,
            kind=HeldKind.APPROVAL if approval else HeldKind.CONFIRMATION,
            status=held.status,
            decision=feed_decision(held),
            tool=held.tool,
            summary=visible(held.summary or ""),
            amount=to_dollars(held.amount_cents),
            decided_amount=to_dollars(decided) if decided is not None and approval else None,
            note=visible(held.note) if approval and held.note is not None else None,
            run_id=held.run_id,
            created_at=held.created_at,
            expires_at=held.expires_at,
            decided_at=held.decided_at,
        )


class ConversationDetailOut(ConversationOut):
    messages: list[MessageOut]
    """Oldest first."""
    runs: list[RunOut]
    """Oldest first."""
    held_calls: list[HeldCallOut]
    """Every confirmation and approval of the conversation, answered or not, oldest first."""
    handoff: HandoffRefOut | None
    """The conversation's open hand-off (`queued` or `claimed`), if it waits for or is with a person now."""

    @classmethod
    def from_records(
        cls,
        conversation: Conversation,
        messages: list[ChatMessage],
        runs: list[Run],
        held_calls: list[Approval],
        open_handoff: Handoff | None,
        flags: list[tuple[str, Flag]] | None = None,
    ) -> ConversationDetailOut:
        """The whole conversation as a page opened again needs it: what was said, and how every held call ended."""
        held_calls = sorted(held_calls, key=lambda h: (h.created_at, h.id))
        return cls(
            **ConversationOut.from_record(conversation).model_dump(),
            messages=[message_view(m) for m in messages],
            runs=[run_view(answered) for answered in held_runs(runs, held_calls, flags or ())],
            held_calls=[HeldCallOut.from_record(h) for h in held_calls],
            handoff=HandoffRefOut(id=open_handoff.id, status=open_handoff.status) if open_handoff else None,
        )


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

    @classmethod
    def from_record(cls, held: Approval) -> ConfirmationOut:
        return cls(
            id=held.id,
            status=held.status,
            decision=None if held.status == ApprovalStatus.PENDING else human_decision(held),
            tool=held.tool,
            arguments=visible_json(held.arguments),
            summary=visible(held.summary or ""),
            expires_at=held.expires_at,
            decided_at=held.decided_at,
            result=held.result,
            resumed_run_id=held.resumed_run_id,
        )


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
