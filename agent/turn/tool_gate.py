"""One tool call through the gate: validate, ask the policy, then run it, refuse it, or hold it for a human.

The model only ever proposes. Whatever it sends, the call is validated against the tool's schema, decided by
the policy engine, and only then executed, under an idempotency key the service derived for it (see
`agent.turn.tool_calls`), so that a retried or resumed step can never run a write twice.

A read is decided and run in a read-only transaction that commits nothing: its audit row goes back to the caller,
which stores it with the run's steps when the run closes (one write per turn, however many reads).
A write is decided and executed in one transaction, under the customer's lock row (and the store's, when it
refunds): the limits that count earlier writes (per hour, per 30 days, per store day) see every write that
committed before, and no write commits between their count and this one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from basics.clock import utcnow
from basics.database import Database
from basics.principal import Principal
from policies.audit import decision_row, record_decision
from policies.decision import Decision
from policies.engine import PolicyEngine
from tools.call import ToolCall
from tools.context import ToolContext
from tools.errors import InvalidArguments, UnknownTool
from tools.executor import ToolResult, execute, execute_in_transaction
from tools.registry import ToolRegistry, ToolSpec


@dataclass(frozen=True, slots=True)
class CallOutcome:
    """What became of a call. `result` is what the model is shown; it is None while the call awaits approval."""

    call: ToolCall
    decision: Decision | None
    result: ToolResult | None
    spec: ToolSpec | None = None
    awaiting_confirmation: bool = False
    """The policy would let the write go ahead (perhaps via a human), but the customer has not confirmed it."""
    unrecorded_decision: dict[str, Any] | None = None
    """An allowed read's audit row, for the caller to store with the run's steps (nothing else stored it)."""

    @property
    def awaiting_approval(self) -> bool:
        return not self.awaiting_confirmation and self.decision is not None and self.decision.needs_approval

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


def legacy_key(run_id: str, call_id: str) -> str:
    """The key held calls were executed under before keys were derived by the service (approvals made then)."""
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

    async def submit(
        self, call: ToolCall, principal: Principal, *, run_id: str, key: str, confirmed: bool = False
    ) -> CallOutcome:
        """Validate and decide; run the call if the policy allows it, under `key`. A write the policy file says
        the customer must confirm is only decided, never run, unless `confirmed` (which only the customer's
        own answer through the API sets, never anything the model sends)."""
        try:
            spec = self.registry.get(call.name)
            args = spec.parse(call.arguments)
        except (UnknownTool, InvalidArguments) as error:
            return CallOutcome(call=call, decision=None, result=ToolResult.failure(error))
        if not confirmed and self.engine.config.confirmations.required_for(spec.name, writes=spec.writes):
            return await self._ask_first(call, principal, spec, run_id)
        if not spec.writes:
            return await self._read(call, principal, spec, args, run_id=run_id, key=key)
        async with self.database.session() as session:
            decision = await self.engine.evaluate(call, principal, session, run_id=run_id, hold_limits=spec.writes)
            if decision.denied or decision.needs_approval:
                await session.commit()
                result = denial_result(decision) if decision.denied else None
                return CallOutcome(call=call, decision=decision, result=result, spec=spec)
            ctx = ToolContext(principal=principal, session=session, idempotency_key=key, knowledge=self.knowledge)
            # The decision, the limits' lock and the write commit together; a write that fails rolls all of it
            # back, so the decision is then stored again on its own.
            result = await execute_in_transaction(spec, ctx, args, checked_amount_cents=decision.amount_cents)
        if not result.ok:
            await self._record_again(call, principal, decision, run_id)
        return CallOutcome(call=call, decision=decision, result=result, spec=spec)

    async def _read(
        self, call: ToolCall, principal: Principal, spec: ToolSpec, args: Any, *, run_id: str, key: str
    ) -> CallOutcome:
        """Decide and run a read without writing anything; a refused read is stored at once, like any refusal."""
        async with self.database.session(readonly=True) as session:
            decided_at = utcnow()
            decision = await self.engine.evaluate(call, principal, session, run_id=run_id, record=False)
            if decision.allowed:
                ctx = ToolContext(
                    principal=principal,
                    session=session,
                    idempotency_key=key,
                    knowledge=self.knowledge,
                    read=self.database.read_alone,
                )
                result = await execute(spec, ctx, args)
                row = decision_row(call, principal, decision, now=decided_at, run_id=run_id)
                return CallOutcome(call=call, decision=decision, result=result, spec=spec, unrecorded_decision=row)
        await self._record_again(call, principal, decision, run_id)
        refused = denial_result(decision) if decision.denied else None
        return CallOutcome(call=call, decision=decision, result=refused, spec=spec)

    async def _ask_first(self, call: ToolCall, principal: Principal, spec: ToolSpec, run_id: str) -> CallOutcome:
        """Decide without running: a refused write is refused at once (nothing to confirm); any other waits for
        the customer. The decision made again at the confirmation is the one that counts."""
        async with self.database.session() as session:
            decision = await self.engine.evaluate(call, principal, session, run_id=run_id)
            await session.commit()
        if decision.denied:
            return CallOutcome(call=call, decision=decision, result=denial_result(decision), spec=spec)
        return CallOutcome(call=call, decision=decision, result=None, spec=spec, awaiting_confirmation=True)

    async def _record_again(self, call: ToolCall, principal: Principal, decision: Decision, run_id: str) -> None:
        async with self.database.session() as session:
            await record_decision(session, call, principal, decision, now=utcnow(), run_id=run_id)
            await session.commit()

    async def run_approved(
        self, call: ToolCall, principal: Principal, *, key: str, approved_amount_cents: int
    ) -> ToolResult:
        """Execute a call a human approved, under the held call's key, so it runs at most once."""
        spec = self.registry.get(call.name)
        args = spec.parse(call.arguments)
        async with self.database.session() as session:
            ctx = ToolContext(principal=principal, session=session, idempotency_key=key)
            return await execute(spec, ctx, args, checked_amount_cents=approved_amount_cents)
