"""Driving tools the way the service does: through the gate (validate, policy, execute)."""

from __future__ import annotations

import itertools
from typing import Any

from agent.turn.tool_gate import CallOutcome, ToolGate
from basics.principal import Principal
from tools.call import ToolCall
from tools.executor import ToolResult

_ids = itertools.count(1)


async def submit(gate: ToolGate, user_id: str, name: str, run_id: str = "test-run", **arguments: Any) -> CallOutcome:
    """Submit a call, and if it waits for the customer's confirmation, confirm it as the service does on the
    customer's Confirm (decided again, then run under the same key); the confirmation flow itself is tested
    through the API in tests/api/test_confirmations.py."""
    call = ToolCall(name=name, arguments=arguments, id=f"call-{next(_ids)}")
    principal = Principal.customer(user_id)
    outcome = await gate.submit(call, principal, run_id=run_id, key=f"{run_id}:{call.id}")
    if outcome.awaiting_confirmation:
        outcome = await gate.submit(call, principal, run_id=run_id, key=f"{run_id}:{call.id}", confirmed=True)
    return outcome


async def submit_and_approve(
    gate: ToolGate, user_id: str, name: str, **arguments: Any
) -> tuple[CallOutcome, ToolResult]:
    """Submit; if a human must approve, approve it as is (the approval flow itself is tested elsewhere)."""
    outcome = await submit(gate, user_id, name, **arguments)
    if outcome.awaiting_approval:
        assert outcome.decision is not None
        result = await gate.run_approved(
            outcome.call,
            Principal.customer(user_id),
            key=f"test-run:{outcome.call.id}",
            approved_amount_cents=outcome.decision.amount_cents,
        )
        return outcome, result
    assert outcome.result is not None, outcome
    return outcome, outcome.result
