"""What the support team's side of the API answers with: approvals and hand-offs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from agent import ApprovalContext
from api.schemas.base import Schema
from api.schemas.conversations import MessageOut, RunOut


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


class HandoffDetailOut(HandoffOut):
    conversation: list[MessageOut]


class StaffReplyOut(Schema):
    message: MessageOut
    handoff: HandoffOut
