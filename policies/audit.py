"""The audit trail: every policy decision, stored with what it decided.

A refusal, a hold or a write is stored in the transaction that acts on it, before anything else happens. An
allowed read changes nothing, so its decision is stored with the steps of its run, in the run's closing
transaction: a read costs no write of its own. (A process that dies mid-run loses the read decisions of that run,
and the run is marked interrupted; no effect on the store goes unrecorded.)"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlmodel import Field, SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from basics.principal import Principal
from policies.decision import Decision
from tools.call import ToolCall
from tools.store.sanitize import clean_json, clean_text
from tools.store.tables import json_column, money_column, utc_column

MAX_STORED_ARGUMENT_BYTES = 16_384


class PolicyDecisionRecord(SQLModel, table=True):
    __tablename__ = "policy_decisions"

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(sa_column=utc_column(index=True))
    tool: str = Field(max_length=200)
    call_id: str = Field(default="", max_length=200)
    run_id: str | None = Field(default=None, max_length=64, index=True)
    arguments: dict[str, Any] = Field(sa_column=json_column())
    principal_id: str = Field(max_length=200, index=True)
    principal_role: str = Field(max_length=20)
    outcome: str = Field(max_length=20)
    rule: str = Field(max_length=100)
    reason: str
    approver_role: str | None = Field(default=None, max_length=20)
    amount_cents: int = Field(default=0, sa_column=money_column())
    policy_version: str = Field(max_length=60)
    tier_sum_cents: int | None = Field(default=None, sa_column=money_column(nullable=True))
    """The sum a money tier compared: this call's amount plus what the customer received within the window."""


_INSERT_DECISION = insert(PolicyDecisionRecord.__table__)  # type: ignore[attr-defined]
"""Built once: a plain Core insert with bound parameters is compiled once and cached."""


def storable_arguments(arguments: object) -> dict[str, Any]:
    """Arguments as they arrived, kept as JSON; anything odd or oversized is kept as a bounded string."""
    if isinstance(arguments, dict):
        try:
            encoded = json.dumps(clean_json(arguments), ensure_ascii=False, default=str, allow_nan=False)
        except (TypeError, ValueError, RecursionError):
            encoded = ""
        if encoded and len(encoded.encode()) <= MAX_STORED_ARGUMENT_BYTES:
            return json.loads(encoded)  # type: ignore[no-any-return]
    text = clean_text(repr(arguments))
    return {
        "_unparsed": text[: MAX_STORED_ARGUMENT_BYTES // 4],
        "_truncated": len(text) > MAX_STORED_ARGUMENT_BYTES // 4,
    }


def decision_row(
    call: ToolCall, principal: Principal, decision: Decision, *, now: datetime, run_id: str | None = None
) -> dict[str, Any]:
    """The audit row of one decision: written at once by `record_decision`, or, for an allowed read, with the
    steps of its run when the run closes (`agent.conversations.store.RunStore.finish_turn`)."""
    return {
        "created_at": now,
        "tool": clean_text(call.name[:200]),
        "call_id": clean_text(call.id[:200]),
        "run_id": run_id,
        "arguments": storable_arguments(call.arguments),
        "principal_id": clean_text(principal.id[:200]),
        "principal_role": principal.role,
        "outcome": decision.outcome.value,
        "rule": decision.rule,
        "reason": clean_text(decision.reason),
        "approver_role": decision.approver_role,
        "amount_cents": decision.amount_cents,
        "policy_version": decision.policy_version,
        "tier_sum_cents": decision.tier_sum_cents,
    }


async def record_decision(
    session: AsyncSession,
    call: ToolCall,
    principal: Principal,
    decision: Decision,
    *,
    now: datetime,
    run_id: str | None = None,
) -> None:
    """Write the decision in the session's transaction. The caller commits it (see `agent.turn.tool_gate.ToolGate`):
    before a write runs, or with the refusal or hold it explains."""
    await session.exec(_INSERT_DECISION, params=decision_row(call, principal, decision, now=now, run_id=run_id))
