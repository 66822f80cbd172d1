"""How stored records look to clients: the message and run objects of API responses, which the conversation
feed's events carry too (`agent.feed`), so a widget reads one shape wherever a record reaches it."""

from __future__ import annotations

from typing import Any

from agent.pricing import micro_to_usd
from agent.tables import Approval, ChatMessage, Run
from tools.store.money import to_dollars


def message_view(message: ChatMessage) -> dict[str, Any]:
    return {
        "id": message.id,
        "role": message.role,
        "content": message.content,
        "created_at": message.created_at.isoformat(),
        "author_id": message.author_id,
    }


def pending_action_view(approval: Approval | None) -> dict[str, Any] | None:
    if approval is None or approval.kind != "approval":
        return None
    return {
        "approval_id": approval.id,
        "status": approval.status,
        "tool": approval.tool,
        "arguments": approval.arguments,
        "amount": to_dollars(approval.amount_cents),
        "approver_role": approval.approver_role,
        "expires_at": approval.expires_at.isoformat(),
    }


def pending_confirmation_view(held: Approval | None) -> dict[str, Any] | None:
    """The confirmation a run waits for, while the customer can still answer it."""
    if held is None or held.kind != "confirmation" or held.status != "pending":
        return None
    return confirmation_card(held)


def run_view(run: Run, approval: Approval | None = None) -> dict[str, Any]:
    return {
        "id": run.id,
        "status": run.status,
        "reply": run.reply,
        "pending_action": pending_action_view(approval),
        "pending_confirmation": pending_confirmation_view(approval),
        "trace_id": run.trace_id,
        "model": {"provider": run.model_provider, "name": run.model_name},
        "usage": {
            "model_calls": run.model_calls,
            "input_tokens": run.input_tokens,
            "output_tokens": run.output_tokens,
            "cache_read_tokens": run.cache_read_tokens,
            "cache_write_tokens": run.cache_write_tokens,
            "cost_usd": micro_to_usd(run.cost_micro_usd),
        },
        "budget_exhausted": run.budget_exhausted,
        "started_at": run.started_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "resumed_from": run.resumed_from,
        "kb_version": run.kb_version,
    }


def confirmation_card(confirmation: Approval) -> dict[str, Any]:
    """A confirmation as the customer's widget shows it: what will happen, in the store's own words."""
    return {
        "id": confirmation.id,
        "tool": confirmation.tool,
        "arguments": confirmation.arguments,
        "summary": confirmation.summary or "",
        "expires_at": confirmation.expires_at.isoformat(),
    }
