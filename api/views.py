"""How stored records look in API responses. One function per record, shared by every router; the message and
run objects live in `agent.views`, because the conversation feed's events carry them too."""

from __future__ import annotations

from typing import Any

from agent.approvals import human_decision
from agent.tables import Approval, ChatMessage, Conversation, Run
from agent.views import message_view, run_view
from api.settings import Settings
from tools.store.money import to_dollars


def confirmation_view(held: Approval) -> dict[str, Any]:
    return {
        "id": held.id,
        "status": held.status,
        "decision": None if held.status == "pending" else human_decision(held),
        "tool": held.tool,
        "arguments": held.arguments,
        "summary": held.summary or "",
        "expires_at": held.expires_at.isoformat(),
        "decided_at": held.decided_at.isoformat() if held.decided_at else None,
        "result": held.result,
        "resumed_run_id": held.resumed_run_id,
    }


def conversation_view(
    conversation: Conversation, messages: list[ChatMessage], runs: list[Run], approvals: dict[str, Approval]
) -> dict[str, Any]:
    return {
        "id": conversation.id,
        "customer_id": conversation.customer_id,
        "created_at": conversation.created_at.isoformat(),
        "messages": [message_view(m) for m in messages],
        "runs": [run_view(r, approvals.get(r.id)) for r in runs],
    }


def trace_link(trace_id: str | None, settings: Settings) -> str | None:
    if not trace_id or not settings.jaeger_ui_url:
        return None
    return f"{settings.jaeger_ui_url.rstrip('/')}/trace/{trace_id}"


def approval_view(approval: Approval, settings: Settings) -> dict[str, Any]:
    trace_id = approval.trace_context.get("trace_id")
    return {
        "id": approval.id,
        "status": approval.status,
        "tool": approval.tool,
        "arguments": approval.arguments,
        "arguments_hash": approval.arguments_hash,
        "reason": approval.reason,
        "policy_code": approval.rule,
        "policy_version": approval.policy_version,
        "amount": to_dollars(approval.amount_cents),
        "approver_role": approval.approver_role,
        "conversation_id": approval.conversation_id,
        "customer_id": approval.customer_id,
        "run_id": approval.run_id,
        "trace_id": trace_id,
        "trace_url": trace_link(trace_id, settings),
        "created_at": approval.created_at.isoformat(),
        "expires_at": approval.expires_at.isoformat(),
        "decision": {
            "by": approval.decided_by,
            "role": approval.decided_role,
            "at": approval.decided_at.isoformat() if approval.decided_at else None,
            "note": approval.note,
            "executed_arguments": approval.executed_arguments,
            "executed_hash": approval.executed_hash,
            "executed_amount": to_dollars(approval.executed_amount_cents)
            if approval.executed_amount_cents is not None
            else None,
            "result": approval.result,
        }
        if approval.decided_at
        else None,
        "resumed_run_id": approval.resumed_run_id,
    }
