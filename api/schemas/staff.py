"""What the support team's side of the API answers with: approvals and hand-offs."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from agent import Approval, ApprovalContext, ChatMessage, Handoff, message_view
from api.schemas.base import Schema
from api.schemas.conversations import MessageOut, RunOut
from tools.store.money import to_dollars
from tools.store.sanitize import visible, visible_json

if TYPE_CHECKING:  # api.settings imports api.errors, which imports these shapes
    from api.settings import Settings


def trace_link(trace_id: str | None, settings: Settings) -> str | None:
    """The trace in the Jaeger UI the operator set (`SUPPORT_JAEGER_UI_URL`), if any."""
    if not trace_id or not settings.jaeger_ui_url:
        return None
    return f"{settings.jaeger_ui_url.rstrip('/')}/trace/{trace_id}"


class ApprovalDecisionOut(Schema):
    """Who decided an approval, and what ran."""

    by: str | None
    role: str | None
    at: datetime | None
    note: str | None
    executed_arguments: dict[str, Any] | None
    """Exactly what ran: the proposed arguments, or the approver's amendment."""
    executed_hash: str | None
    executed_amount: float | None
    result: dict[str, Any] | None
    """What the store answered when the action ran."""

    @classmethod
    def from_record(cls, approval: Approval) -> ApprovalDecisionOut | None:
        """None while undecided."""
        if not approval.decided_at:
            return None
        executed = approval.executed_amount_cents
        return cls(
            by=approval.decided_by,
            role=approval.decided_role,
            at=approval.decided_at,
            note=visible(approval.note) if approval.note is not None else None,
            executed_arguments=visible_json(approval.executed_arguments),
            executed_hash=approval.executed_hash,
            executed_amount=to_dollars(executed) if executed is not None else None,
            result=approval.result,
        )


class ApprovalOut(Schema):
    """An action held for a person of the support team."""

    id: str
    status: str
    """`pending`, `approved`, `rejected`, `expired`, `executed` or `failed`."""
    tool: str
    arguments: dict[str, Any]
    arguments_hash: str
    reason: str
    """Why the policy held it, in words."""
    policy_code: str
    """The policy rule that held it."""
    policy_version: str
    amount: float
    """The money the action moves, in dollars."""
    approver_role: str
    """The least senior role that may decide it."""
    conversation_id: str
    customer_id: str
    run_id: str
    trace_id: str | None
    trace_url: str | None
    """The trace in Jaeger, when SUPPORT_JAEGER_UI_URL is set."""
    created_at: datetime
    expires_at: datetime
    decision: ApprovalDecisionOut | None
    """None until decided."""
    resumed_run_id: str | None

    @classmethod
    def from_record(cls, approval: Approval, settings: Settings) -> ApprovalOut:
        trace_id = approval.trace_context.get("trace_id")
        return ApprovalOut(
            id=approval.id,
            status=approval.status,
            tool=approval.tool,
            arguments=visible_json(approval.arguments),
            arguments_hash=approval.arguments_hash,
            reason=visible(approval.reason),
            policy_code=approval.rule,
            policy_version=approval.policy_version,
            amount=to_dollars(approval.amount_cents),
            approver_role=approval.approver_role,
            conversation_id=approval.conversation_id,
            customer_id=approval.customer_id,
            run_id=approval.run_id,
            trace_id=trace_id,
            trace_url=trace_link(trace_id, settings),
            created_at=approval.created_at,
            expires_at=approval.expires_at,
            decision=ApprovalDecisionOut.from_record(approval),
            resumed_run_id=approval.resumed_run_id,
        )


class PolicyOut(Schema):
    rule: str
    reason: str
    version: str


class ApprovalDetailOut(ApprovalOut):
    conversation: list[MessageOut]
    """The conversation so far, oldest first."""
    policy: PolicyOut
    context: ApprovalContext
    """What an approver needs to decide: the order, the customer's recent refunds, earlier approvals."""

    @classmethod
    def from_records(
        cls, approval: Approval, settings: Settings, messages: list[ChatMessage], context: ApprovalContext
    ) -> ApprovalDetailOut:
        return cls(
            **ApprovalOut.from_record(approval, settings).model_dump(),
            conversation=[message_view(m) for m in messages],
            policy=PolicyOut(rule=approval.rule, reason=approval.reason, version=approval.policy_version),
            context=context,
        )


class SettledApprovalOut(Schema):
    approval: ApprovalOut
    run: RunOut | None
    """The run that resumed after the decision and answered the customer."""


class HandoffOut(Schema):
    id: str
    status: str
    """`queued | claimed | closed`"""
    conversation_id: str
    customer_id: str
    reason: str
    summary: str
    run_id: str | None
    created_at: datetime
    claimed_by: str | None
    claimed_at: datetime | None
    closed_by: str | None
    closed_at: datetime | None
    outcome: str | None
    """How it was closed: `bot` (back to the assistant) or `resolved`."""

    @classmethod
    def from_record(cls, handoff: Handoff) -> HandoffOut:
        shown = HandoffOut.model_validate(handoff, from_attributes=True)
        return shown.model_copy(update={"summary": visible(shown.summary)})


class HandoffDetailOut(HandoffOut):
    conversation: list[MessageOut]


class StaffReplyOut(Schema):
    message: MessageOut
    handoff: HandoffOut
