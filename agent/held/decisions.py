"""Deciding on held actions: approve (possibly amended), reject, expire, and finish what a crash interrupted.

The path of an approval, each step durable before the next:

    pending ──approve──▶ approved ──tool runs once──▶ executed | failed ──▶ resumed run answers the customer
       │    ──reject───▶ rejected ───────────────────────────────────────▶ resumed run answers the customer
       └─── (24 h) ────▶ expired  ───────────────────────────────────────▶ run ends handed_off, no model call

Exactly once: `pending -> approved` is one conditional update (one winner among concurrent approvers); the
tool runs under the idempotency key of the paused call, so a second attempt replays the recorded result instead
of writing again; the resumed run is created in the same transaction that claims it. A process that dies
anywhere on the way leaves a state that `recover` (at start-up, and when the approval is next read) completes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from agent.conversations.records import HeldRun
from agent.conversations.store import KnownAtStart, Resumed, RunStore, RunTotals
from agent.conversations.tables import Approval, Run
from agent.errors import AmendmentRejected, ApprovalNotPending, ApproverLimitExceeded, ConversationBusy
from agent.held.approvals import SERVICE_ID, ApprovalStore, decision_notice, escalated_decision, human_decision
from agent.held.status import CONFIRMED, ApprovalStatus, HeldKind, RunStatus
from agent.models.base import ToolUseBlock
from agent.telemetry.links import HeldCall, PausedRun
from agent.telemetry.recorder import Telemetry
from agent.turn.loop import AgentLoop
from agent.turn.replies import APPROVAL_EXPIRED, CONFIRMATION_EXPIRED, awaiting_approval
from agent.turn.state import TurnState
from agent.turn.tool_gate import ToolGate, legacy_key
from basics.clock import utcnow
from basics.database import Database
from basics.principal import Principal
from policies.config import ROLE_RANK, PolicyConfig
from policies.engine import PolicyEngine
from tools.call import ToolCall
from tools.errors import InvalidArguments, UnknownTool
from tools.registry import ToolRegistry
from tools.store.sanitize import clean_json

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Settled:
    """An approval after a decision, and the run that told the customer with the call that run now waits on, if
    any (a model may chain a second write); None if the customer has not been told yet."""

    approval: Approval
    run: HeldRun | None


class ApprovalDecisions:
    def __init__(
        self,
        *,
        database: Database,
        approvals: ApprovalStore,
        runs: RunStore,
        gate: ToolGate,
        engine: PolicyEngine,
        policy: PolicyConfig,
        registry: ToolRegistry,
        loop: AgentLoop,
        recovery_grace: timedelta = timedelta(seconds=60),
        claim_wait: timedelta = timedelta(0),
    ) -> None:
        self.database = database
        self.approvals = approvals
        self.runs = runs
        self.gate = gate
        self.engine = engine
        self.policy = policy
        self.registry = registry
        self.loop = loop
        self.recovery_grace = recovery_grace
        """How long a decided approval may wait for its execution or resumed run before another process
        assumes its first process died and completes it."""
        self.claim_wait = claim_wait
        """How long a decision's run waits for its conversation while another run answers there."""

    @property
    def telemetry(self) -> Telemetry:
        """The loop's: spans and metrics of decisions go where the runs' go."""
        return self.loop.telemetry

    # ---- decisions ----------------------------------------------------------------------------------------

    async def approve(
        self, approval_id: str, approver: Principal, note: str, amended: dict[str, Any] | None = None
    ) -> Settled:
        approval = await self._pending(approval_id)
        arguments = clean_json(amended if amended is not None else approval.arguments)
        amount = await self._check_authority(approval, approver, arguments, amended=amended is not None)
        if not await self.approvals.approve(approval.id, approver, note, arguments, amount):
            raise ApprovalNotPending(await self._why_not_pending(approval.id))
        self.telemetry.approval_closed()
        return await self._execute_and_resume(approval.id)

    async def reject(self, approval_id: str, approver: Principal, note: str) -> Settled:
        approval = await self._pending(approval_id)
        if not await self.approvals.reject(approval.id, approver, note):
            raise ApprovalNotPending(await self._why_not_pending(approval.id))
        self.telemetry.approval_closed()
        return await self._resume(await self.approvals.get(approval.id))

    async def _pending(self, approval_id: str, kind: str = HeldKind.APPROVAL) -> Approval:
        approval = await self.approvals.get(approval_id, kind=kind)
        if approval.status != ApprovalStatus.PENDING or await self._expire_if_due(approval):
            raise ApprovalNotPending(await self._why_not_pending(approval.id))
        return approval

    async def _why_not_pending(self, approval_id: str) -> str:
        approval = await self.approvals.get(approval_id)
        if approval.status == ApprovalStatus.EXPIRED:
            return f"approval {approval.id} expired at {approval.expires_at.isoformat()}; it can no longer be decided"
        return f"approval {approval.id} is already {approval.status}"

    async def _check_authority(
        self, approval: Approval, approver: Principal, arguments: dict[str, Any], *, amended: bool
    ) -> int:
        """Decide the arguments that will run as the policy would now, and check the approver may allow them.
        Returns the amount the tool must move."""
        try:
            self.registry.get(approval.tool).parse(arguments)
        except (UnknownTool, InvalidArguments) as error:
            problems = error.details.get("problems") if isinstance(error, InvalidArguments) else None
            first = problems[0] if problems else None
            if first:
                raise AmendmentRejected(f"{first['field']}: {first['problem']}", field=str(first["field"])) from error
            raise AmendmentRejected(f"the arguments are not valid: {error.message}") from error
        if amended and (arguments.get("order_id") or None) != (approval.arguments.get("order_id") or None):
            raise AmendmentRejected("order_id: an amendment cannot move the action to another order", field="order_id")
        call = ToolCall(approval.tool, arguments, approval.tool_use_id)
        async with self.database.session() as session:
            decision = await self.engine.evaluate(call, Principal.customer(approval.customer_id), session)
            await session.commit()
        if decision.denied:
            if amended:
                field = changed_field(approval.arguments, arguments)
                raise AmendmentRejected(
                    f"{field or 'arguments'}: the policy refuses the amended value: {decision.reason}", field=field
                )
            raise ApprovalNotPending(f"the action is no longer possible: {decision.reason}")
        limit = self.policy.approver_limit(approver.role, approval.tool)
        needed = ROLE_RANK.get(decision.approver_role or "", 0)
        if decision.amount_cents > limit or needed > ROLE_RANK.get(approver.role, 0):
            raise ApproverLimitExceeded(
                f"a {approver.role} can approve {approval.tool} up to ${limit / 100:,.2f}; "
                f"this needs a {decision.approver_role or 'more senior approver'}"
            )
        return decision.amount_cents

    # ---- after the decision -------------------------------------------------------------------------------

    async def settle(self, held_id: str) -> Settled:
        """Carry a decided held call through: run it if it was approved or confirmed, then resume its run."""
        return await self._execute_and_resume(held_id)

    async def _execute_and_resume(self, approval_id: str) -> Settled:
        approval = await self.approvals.get(approval_id)
        if approval.status == ApprovalStatus.APPROVED and approval.kind == HeldKind.CONFIRMATION:
            return await self._run_confirmed(approval)
        if approval.status == ApprovalStatus.APPROVED:
            telemetry = self.telemetry
            await telemetry.know_customer(approval.customer_id)
            held = held_call(approval, ApprovalStatus.APPROVED, approval.executed_arguments or {})
            with telemetry.held_call_span(held) as span:
                result = await self.gate.run_approved(
                    ToolCall(approval.tool, approval.executed_arguments, approval.tool_use_id),
                    Principal.customer(approval.customer_id),
                    key=approval.idempotency_key or legacy_key(approval.run_id, approval.tool_use_id),
                    approved_amount_cents=approval.executed_amount_cents or 0,
                )
                telemetry.held_call_ran(span, held, result.ok, result.error_code, result.content)
            await self.approvals.record_execution(approval.id, ok=result.ok, result=result.content)
            approval = await self.approvals.get(approval.id)
        return await self._resume(approval)

    async def _run_confirmed(self, confirmation: Approval) -> Settled:
        """Run a call the customer confirmed, as the policy decides it now, under the held call's key: a second
        attempt (a crash, a recovery pass) replays the recorded result instead of writing again. If the policy
        now holds the call for a human, nothing runs and the run that answers opens the approval."""
        telemetry = self.telemetry
        await telemetry.know_customer(confirmation.customer_id)
        held = held_call(confirmation, CONFIRMED, confirmation.arguments)
        with telemetry.held_call_span(held) as span:
            outcome = await self.gate.submit(
                ToolCall(confirmation.tool, confirmation.arguments, confirmation.tool_use_id),
                Principal.customer(confirmation.customer_id),
                run_id=confirmation.run_id,
                key=confirmation.idempotency_key or legacy_key(confirmation.run_id, confirmation.tool_use_id),
                confirmed=True,
            )
            if outcome.decision is not None:
                span.set_attribute("policy.decision", outcome.decision.outcome.value)
                span.set_attribute("policy.rule", outcome.decision.rule)
            result = outcome.result
            if result is not None:
                telemetry.held_call_ran(span, held, result.ok, result.error_code, result.content)
        if result is None and outcome.decision is not None:
            await self.approvals.escalate(confirmation.id, outcome.decision)
        elif result is not None:
            await self.approvals.record_execution(confirmation.id, ok=result.ok, result=result.content)
        return await self._resume(await self.approvals.get(confirmation.id))

    async def _resume(self, approval: Approval) -> Settled:
        """Continue the paused conversation with the decision; exactly one process gets to do it. Its run holds
        the conversation like any other (`agent.conversations.claims`): while another run answers there, this one
        waits for
        it to end (up to `claim_wait`), and past that the recovery pass tells the decision later."""
        run = self.runs.resumed_run(approval.conversation_id, approval.customer_id, resumed_from=approval.run_id)
        try:
            resumed = await self.runs.start_resumed(run, held_id=approval.id, wait_s=self.claim_wait.total_seconds())
        except ConversationBusy:
            log.warning("held call %s is decided; its conversation stays busy, so it is told later", approval.id)
            return Settled(await self.approvals.get(approval.id), None)
        if resumed is None:
            latest = await self.approvals.get(approval.id)
            existing = await self.runs.get_run(latest.resumed_run_id) if latest.resumed_run_id else None
            return Settled(latest, await self.approvals.held_run(existing) if existing else None)
        return Settled(await self.approvals.get(approval.id), await self.answer_decision(approval, resumed))

    async def answer_decision(self, approval: Approval, resumed: Resumed) -> HeldRun:
        """Tell the customer the decision in `resumed.run` (a stored, running run that holds the conversation):
        the model answers, or, for an expired approval, a fixed reply hands the conversation to the team."""
        run = resumed.run
        notice = decision_notice(approval)
        if approval.kind == HeldKind.CONFIRMATION and approval.status in (
            ApprovalStatus.EXPIRED,
            ApprovalStatus.ESCALATED,
        ):
            return await self._answer_without_model(approval, run, notice)
        if approval.status == ApprovalStatus.EXPIRED:
            finished = await self.runs.finish_turn(
                run,
                status=RunStatus.HANDED_OFF,
                reply=APPROVAL_EXPIRED,
                transcript=[
                    {"role": "user", "content": [{"type": "text", "text": notice}]},
                    {"role": "assistant", "content": [{"type": "text", "text": APPROVAL_EXPIRED}]},
                ],
                totals=RunTotals(0, 0, 0, 0, 0, 0),
                model_provider="",
                model_name="",
            )
            return HeldRun(finished, None)
        paused = PausedRun(
            approval_id=approval.id,
            trace_context=approval.trace_context,
            decision=human_decision(approval),
            approver=approval.decided_by,
            waited_s=((approval.decided_at or utcnow()) - approval.created_at).total_seconds(),
        )
        return await self.loop.answer(run, notice, paused=paused, known=KnownAtStart(resumed.spent_budget))

    async def _answer_without_model(self, confirmation: Approval, run: Run, notice: str) -> HeldRun:
        """An expired confirmation ends with a fixed reply; an escalated one opens the approval the policy now
        asks for, and the run waits for it, as a run the policy held at once would."""
        status, reply = RunStatus.COMPLETED, CONFIRMATION_EXPIRED
        decision = escalated_decision(confirmation)
        opened = None
        if decision is not None:
            call = ToolUseBlock(id=confirmation.tool_use_id, name=confirmation.tool, input=confirmation.arguments)
            state = TurnState.from_json(confirmation.state)  # the run as it paused for the customer
            opened = await self.approvals.create(
                run, call, decision, state, confirmation.trace_context, idempotency_key=confirmation.idempotency_key
            )
            self.telemetry.approval_opened()
            status, reply = RunStatus.AWAITING_APPROVAL, awaiting_approval(decision)
        finished = await self.runs.finish_turn(
            run,
            status=status,
            reply=reply,
            transcript=[
                {"role": "user", "content": [{"type": "text", "text": notice}]},
                {"role": "assistant", "content": [{"type": "text", "text": reply}]},
            ],
            totals=RunTotals(0, 0, 0, 0, 0, 0),
            model_provider="",
            model_name="",
            trace_id=confirmation.trace_context.get("trace_id"),  # the trace where the call was proposed
            held=opened,
        )
        return HeldRun(finished, opened)

    async def _expire(self, approval_id: str) -> None:
        approval = await self.approvals.get(approval_id)
        if await self.approvals.expire(approval_id):
            if approval.kind == HeldKind.APPROVAL:
                self.telemetry.approval_closed()
            else:
                self.telemetry.confirmation_decided(approval, ApprovalStatus.EXPIRED, SERVICE_ID, SERVICE_ID)
            await self._resume(await self.approvals.get(approval_id))

    async def _expire_if_due(self, approval: Approval) -> bool:
        """Expire a pending approval past its deadline; True if it is past it (expired by us or by another)."""
        if approval.status != ApprovalStatus.PENDING or approval.expires_at > utcnow():
            return False
        await self._expire(approval.id)
        return True

    # ---- housekeeping -------------------------------------------------------------------------------------

    async def expire_due(self) -> int:
        """Expire every pending approval past its deadline; each paused run ends handed off."""
        due = await self.approvals.due_for_expiry()
        for approval_id in due:
            await self._expire(approval_id)
        return len(due)

    async def recover(self, *, grace: timedelta | None = None) -> int:
        """Complete decisions whose process stopped before the tool ran or the customer was answered."""
        cutoff = utcnow() - (self.recovery_grace if grace is None else grace)
        stuck = await self.approvals.unfinished(cutoff)
        for approval_id in stuck:
            log.warning("completing approval %s left unfinished by a stopped process", approval_id)
            await self._execute_and_resume(approval_id)
        return len(stuck)

    def _abandoned(self, approval: Approval) -> bool:
        return (
            approval.status != ApprovalStatus.PENDING
            and approval.resumed_run_id is None
            and approval.decided_at is not None
            and approval.decided_at <= utcnow() - self.recovery_grace
        )

    async def read(self, approval_id: str, kind: str = HeldKind.APPROVAL) -> Approval:
        """The held call as it stands, after completing it if its process stopped half-way."""
        approval = await self.approvals.get(approval_id, kind=kind)
        if not await self._expire_if_due(approval) and self._abandoned(approval):
            await self._execute_and_resume(approval.id)
        return await self.approvals.get(approval.id)


def held_call(held: Approval, decision: str, arguments: dict[str, Any]) -> HeldCall:
    """The held call as its `execute_tool` span names it: an approval's or a confirmation's."""
    return HeldCall(
        kind=held.kind,
        id=held.id,
        decision=decision,
        conversation_id=held.conversation_id,
        trace_context=held.trace_context,
        tool=held.tool,
        call_id=held.tool_use_id,
        arguments=arguments,
    )


def changed_field(original: dict[str, Any], amended: dict[str, Any]) -> str | None:
    """The first argument an approver changed: the one to name when the policy refuses the amendment."""
    for name in sorted(set(original) | set(amended)):
        if original.get(name) != amended.get(name):
            return name
    return None
