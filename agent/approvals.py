"""Approvals: tool calls the policy holds for a human, stored with the paused run's state."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any

from agent.models.base import ToolUseBlock
from agent.run_store import new_id
from agent.state import TurnState
from agent.tables import Approval, Run
from policies.decision import Decision
from tools.context import utcnow
from tools.store.database import Database
from tools.store.sanitize import clean_json


def canonical_json(arguments: Any) -> str:
    """One spelling per value: sorted keys, no spaces, UTF-8. Its hash pins exactly what was approved."""
    return json.dumps(arguments, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def arguments_hash(arguments: Any) -> str:
    return hashlib.sha256(canonical_json(arguments).encode()).hexdigest()


class ApprovalStore:
    def __init__(self, database: Database, *, ttl: timedelta) -> None:
        self.database = database
        self.ttl = ttl

    async def create(
        self, run: Run, call: ToolUseBlock, decision: Decision, state: TurnState, trace_context: dict[str, str]
    ) -> Approval:
        arguments = clean_json(call.input if isinstance(call.input, dict) else {})
        now = utcnow()
        approval = Approval(
            id=new_id("appr"),
            status="pending",
            tool=call.name,
            tool_use_id=call.id,
            arguments=arguments,
            arguments_hash=arguments_hash(arguments),
            amount_cents=decision.amount_cents,
            rule=decision.rule,
            reason=decision.reason,
            customer_message=decision.customer_message,
            approver_role=decision.approver_role or "agent",
            policy_version=decision.policy_version,
            conversation_id=run.conversation_id,
            customer_id=run.customer_id,
            run_id=run.id,
            trace_context=trace_context,
            state=clean_json(state.to_json()),
            created_at=now,
            expires_at=now + self.ttl,
        )
        async with self.database.session() as session:
            session.add(approval)
            await session.commit()
        return approval
