"""How stored records look in API responses: one builder per shape of `api.schemas`, shared by every router,
so a record is turned into its response in exactly one place. The message and run builders live in
`agent.views`, because the conversation feed's events carry those objects too; they are re-exported here. Text
that people read (what the model, a customer or a team member wrote) is `visible`, as there."""

from __future__ import annotations

from agent.approval_context import ApprovalContext
from agent.approvals import human_decision
from agent.feed import feed_decision
from agent.quality.run_flags import Flag
from agent.tables import Approval, ChatMessage, Conversation, Handoff, Run
from agent.views import held_runs, message_view, run_view
from api.schemas import (
    ApprovalDecisionOut,
    ApprovalDetailOut,
    ApprovalOut,
    ConfirmationOut,
    ConversationDetailOut,
    ConversationOut,
    HandoffOut,
    HandoffRefOut,
    HeldCallOut,
    PolicyOut,
)
from api.settings import Settings
from tools.store.money import to_dollars
from tools.store.sanitize import visible, visible_json

__all__ = ["message_view", "run_view"]


def conversation_summary(conversation: Conversation) -> ConversationOut:
    return ConversationOut(id=conversation.id, customer_id=conversation.customer_id, created_at=conversation.created_at)


def confirmation_view(held: Approval) -> ConfirmationOut:
    return ConfirmationOut(
        id=held.id,
        status=held.status,
        decision=None if held.status == "pending" else human_decision(held),
        tool=held.tool,
        arguments=visible_json(held.arguments),
        summary=visible(held.summary or ""),
        expires_at=held.expires_at,
        decided_at=held.decided_at,
        result=held.result,
        resumed_run_id=held.resumed_run_id,
    )


def conversation_view(
    conversation: Conversation,
    messages: list[ChatMessage],
    runs: list[Run],
    held_calls: list[Approval],
    open_handoff: Handoff | None,
    flags: list[tuple[str, Flag]] | None = None,
) -> ConversationDetailOut:
    """The whole conversation as a page opened again needs it: what was said, and how every held call ended."""
    held_calls = sorted(held_calls, key=lambda h: (h.created_at, h.id))
    return ConversationDetailOut(
        **conversation_summary(conversation).model_dump(),
        messages=[message_view(m) for m in messages],
        runs=[run_view(answered) for answered in held_runs(runs, held_calls, flags or ())],
        held_calls=[held_call_view(h) for h in held_calls],
        handoff=HandoffRefOut(id=open_handoff.id, status=open_handoff.status) if open_handoff else None,
    )


def held_call_view(held: Approval) -> HeldCallOut:
    decided = held.executed_amount_cents
    return HeldCallOut(
        id=held.id,
        kind="confirmation" if held.kind == "confirmation" else "approval",
        status=held.status,
        decision=feed_decision(held),
        tool=held.tool,
        summary=visible(held.summary or ""),
        amount=to_dollars(held.amount_cents),
        decided_amount=to_dollars(decided) if decided is not None and held.kind == "approval" else None,
        note=visible(held.note) if held.kind == "approval" and held.note is not None else None,
        run_id=held.run_id,
        created_at=held.created_at,
        expires_at=held.expires_at,
        decided_at=held.decided_at,
    )


def trace_link(trace_id: str | None, settings: Settings) -> str | None:
    if not trace_id or not settings.jaeger_ui_url:
        return None
    return f"{settings.jaeger_ui_url.rstrip('/')}/trace/{trace_id}"


def approval_decision_view(approval: Approval) -> ApprovalDecisionOut | None:
    if not approval.decided_at:
        return None
    executed = approval.executed_amount_cents
    return ApprovalDecisionOut(
        by=approval.decided_by,
        role=approval.decided_role,
        at=approval.decided_at,
        note=visible(approval.note) if approval.note is not None else None,
        executed_arguments=visible_json(approval.executed_arguments),
        executed_hash=approval.executed_hash,
        executed_amount=to_dollars(executed) if executed is not None else None,
        result=approval.result,
    )


def approval_view(approval: Approval, settings: Settings) -> ApprovalOut:
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
        decision=approval_decision_view(approval),
        resumed_run_id=approval.resumed_run_id,
    )


def approval_detail_view(
    approval: Approval, settings: Settings, messages: list[ChatMessage], context: ApprovalContext
) -> ApprovalDetailOut:
    return ApprovalDetailOut(
        **approval_view(approval, settings).model_dump(),
        conversation=[message_view(m) for m in messages],
        policy=PolicyOut(rule=approval.rule, reason=approval.reason, version=approval.policy_version),
        context=context,
    )


def handoff_view(handoff: Handoff) -> HandoffOut:
    shown = HandoffOut.model_validate(handoff, from_attributes=True)
    return shown.model_copy(update={"summary": visible(shown.summary)})
