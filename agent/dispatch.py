"""One tool call through the gate: validate, ask the policy, then run it, refuse it, or hold it for a human.

The model only ever proposes. Whatever it sends, the call is validated against the tool's schema, decided by
the policy engine, and only then executed, under an idempotency key derived from the run and the tool call so
that a retried or resumed step can never run a write twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from policies.decision import Decision
from policies.engine import PolicyEngine
from tools.call import ToolCall
from tools.context import Principal, ToolContext
from tools.errors import InvalidArguments, UnknownTool
from tools.executor import ToolResult, execute
from tools.registry import ToolRegistry, ToolSpec
from tools.store.database import Database


@dataclass(frozen=True, slots=True)
class CallOutcome:
    """What became of a call. `result` is what the model is shown; it is None while the call awaits approval."""

    call: ToolCall
    decision: Decision | None
    result: ToolResult | None
    spec: ToolSpec | None = None

    @property
    def awaiting_approval(self) -> bool:
        return self.decision is not None and self.decision.needs_approval

    @property
    def ends_run(self) -> bool:
        return bool(self.spec and self.spec.ends_run and self.result and self.result.ok)


def denial_result(decision: Decision) -> ToolResult:
    """The error result a denied call returns to the model: the rule, and what may be told to the customer."""
    body: dict[str, Any] = {
        "error": {
            "code": "policy_denied",
            "rule": decision.rule,
            "message": decision.customer_message or decision.reason,
        }
    }
    return ToolResult(ok=False, content=body, error_code="policy_denied")


def idempotency_key(run_id: str, call_id: str) -> str:
    return f"run:{run_id}:call:{call_id}"


class ToolGate:
    def __init__(
        self, database: Database, engine: PolicyEngine, registry: ToolRegistry, knowledge: object | None = None
    ) -> None:
        self.database = database
        self.engine = engine
        self.registry = registry
        self.knowledge = knowledge
        """The help centre's search, handed to `search_help_centre` (None: keyword-only)."""

    async def submit(self, call: ToolCall, principal: Principal, *, run_id: str) -> CallOutcome:
        """Validate and decide; run the call if the policy allows it."""
        try:
            spec = self.registry.get(call.name)
            args = spec.parse(call.arguments)
        except (UnknownTool, InvalidArguments) as error:
            return CallOutcome(call=call, decision=None, result=ToolResult.failure(error))
        async with self.database.session() as session:
            decision = await self.engine.evaluate(call, principal, session, run_id=run_id)
            if not (decision.allowed and not spec.writes):
                await session.commit()  # the decision is stored before anything else happens
            if decision.denied:
                return CallOutcome(call=call, decision=decision, result=denial_result(decision), spec=spec)
            if decision.needs_approval:
                return CallOutcome(call=call, decision=decision, result=None, spec=spec)
            ctx = ToolContext(
                principal=principal,
                session=session,
                idempotency_key=idempotency_key(run_id, call.id),
                knowledge=self.knowledge,
            )
            result = await execute(spec, ctx, args, checked_amount_cents=decision.amount_cents if spec.writes else None)
        return CallOutcome(call=call, decision=decision, result=result, spec=spec)

    async def run_approved(
        self, call: ToolCall, principal: Principal, *, run_id: str, approved_amount_cents: int
    ) -> ToolResult:
        """Execute a call a human approved. The key is the one the run would have used, so it runs at most once."""
        spec = self.registry.get(call.name)
        args = spec.parse(call.arguments)
        async with self.database.session() as session:
            ctx = ToolContext(principal=principal, session=session, idempotency_key=idempotency_key(run_id, call.id))
            return await execute(spec, ctx, args, checked_amount_cents=approved_amount_cents)
