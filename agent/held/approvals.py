"""Approvals: tool calls the policy holds for a human, stored with the paused run's state.

Every change of an approval's status is one conditional UPDATE that names the status it expects, so two
approvers, two replicas or a recovery pass racing on one approval cannot both win: the loser changes no row.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, insert, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from agent.conversations import feed
from agent.conversations.records import HeldRun
from agent.conversations.tables import Approval, Run
from agent.held.status import UNDECIDED, ApprovalStatus, HeldKind, audit_outcome, decision_words
from agent.models.base import ToolUseBlock
from agent.turn.replies import NOTICE_PREFIX
from agent.turn.state import TurnState
from basics.clock import utcnow
from basics.database import Database
from basics.ids import new_id
from basics.principal import Principal
from policies.audit import PolicyDecisionRecord
from policies.decision import Decision, Outcome
from tools.errors import NotFound
from tools.store.sanitize import clean_json


@dataclass(frozen=True, slots=True)
class HeldDecision:
    """A decision on a held call, as the audit log keeps it: what was decided and who decided it. Stored in the
    transaction that makes the decision, so the log has a row exactly when the decision happened."""

    outcome: str
    """`approved | rejected` (staff), `confirmed | declined | withdrawn` (the customer), `expired` (nobody)."""
    by: str
    role: str
    """`customer`, `agent`, `supervisor`, or `service` for an expiry."""
    reason: str


SERVICE_ID = "service"
"""Who decides when nobody did: a held call left unanswered past its deadline expires."""


def canonical_json(arguments: Any) -> str:
    """One spelling per value: sorted keys, no spaces, UTF-8. Its hash pins exactly what was approved."""
    return json.dumps(arguments, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def arguments_hash(arguments: Any) -> str:
    return hashlib.sha256(canonical_json(arguments).encode()).hexdigest()


def human_decision(approval: Approval) -> str:
    """What was decided, whatever became of the action afterwards: `approved | rejected | expired` for an
    approval, `confirmed | declined | expired` for a customer's confirmation."""
    return decision_words(approval.kind, approval.status)


def decision_notice(approval: Approval) -> str:
    """How a paused run learns the human decision: a service message with the outcome and the tool's result."""
    body = {
        "approval_id": approval.id,
        "decision": human_decision(approval),
        "kind": approval.kind,
        "tool": approval.tool,
        "tool_use_id": approval.tool_use_id,
        "arguments": approval.executed_arguments or approval.arguments,
        "ok": approval.status == ApprovalStatus.EXECUTED,
        "result": approval.result,
        "note": approval.note or "",
    }
    who = (
        "The customer has answered the confirmation of the action"
        if approval.kind == HeldKind.CONFIRMATION
        else "A support team member has decided on the action that was waiting for approval"
    )
    return f"{NOTICE_PREFIX} {who}. Tell the customer the outcome. {json.dumps(body, ensure_ascii=False)}"


WITHDRAWN = "the customer sent a new message instead of answering"


def escalated_decision(confirmation: Approval) -> Decision | None:
    """The policy's decision that sent a confirmed call to a human, as `ApprovalStore.escalate` stored it."""
    found = (confirmation.result or {}).get("escalated") if confirmation.status == ApprovalStatus.ESCALATED else None
    if not isinstance(found, dict):
        return None
    return Decision(**{**found, "outcome": Outcome(found["outcome"])})


@dataclass(frozen=True, slots=True)
class ApprovalFilter:
    kind: str = HeldKind.APPROVAL
    """Staff queues list approvals only; a customer's confirmation is theirs alone."""
    status: str | None = None
    customer_id: str | None = None
    created_before: datetime | None = None
    """Only approvals at least this old (the console's "waiting longer than" filter)."""
    within: ColumnElement[bool] | None = None
    """A further condition, e.g. "what I may decide" (`agent.held.approval_facts.decidable_by`)."""


class ApprovalStore:
    def __init__(
        self, database: Database, *, ttl: timedelta, confirmation_ttl: timedelta = timedelta(minutes=15)
    ) -> None:
        self.database = database
        self.ttl = ttl
        self.confirmation_ttl = confirmation_ttl

    async def create(
        self,
        run: Run,
        call: ToolUseBlock,
        decision: Decision,
        state: TurnState,
        trace_context: dict[str, str],
        idempotency_key: str | None = None,
        kind: str = HeldKind.APPROVAL,
    ) -> Approval:
        """Hold `call` for a decision: a staff member's (`approval`) or the customer's (`confirmation`)."""
        arguments = clean_json(call.input if isinstance(call.input, dict) else {})
        now = utcnow()
        confirming = kind == HeldKind.CONFIRMATION
        approval = Approval(
            id=new_id("conf" if confirming else "appr"),
            kind=kind,
            summary=decision.summary or None,
            status=ApprovalStatus.PENDING,
            tool=call.name,
            tool_use_id=call.id,
            idempotency_key=idempotency_key,
            arguments=arguments,
            arguments_hash=arguments_hash(arguments),
            amount_cents=decision.amount_cents,
            rule=decision.rule,
            reason=decision.reason,
            customer_message=decision.customer_message,
            approver_role="customer" if confirming else decision.approver_role or "agent",
            policy_version=decision.policy_version,
            conversation_id=run.conversation_id,
            customer_id=run.customer_id,
            run_id=run.id,
            trace_context=trace_context,
            state=clean_json(state.to_json()),
            created_at=now,
            expires_at=now + (self.confirmation_ttl if confirming else self.ttl),
        )
        async with self.database.session() as session:
            session.add(approval)
            await feed.record(session, [feed.held_call_opened(approval)])
            await session.commit()
        return approval

    async def get(self, approval_id: str, *, kind: str | None = None) -> Approval:
        """The held call; with `kind`, only one of that kind (a staff route never sees a confirmation)."""
        async with self.database.session(readonly=True) as session:
            approval = await session.get(Approval, approval_id)
        if approval is None or (kind is not None and approval.kind != kind):
            raise NotFound(f"{kind or 'approval'} not found")
        return approval

    async def find(self, where: ApprovalFilter, *, limit: int, after: tuple[datetime, str] | None) -> list[Approval]:
        """Oldest first (the queue order), keyset-paginated on (created_at, id)."""
        query = select(Approval).where(col(Approval.kind) == where.kind)
        if where.status:
            query = query.where(col(Approval.status) == where.status)
        if where.customer_id:
            query = query.where(col(Approval.customer_id) == where.customer_id)
        if where.created_before:
            query = query.where(col(Approval.created_at) <= where.created_before)
        if where.within is not None:
            query = query.where(where.within)
        if after:
            created, approval_id = after
            query = query.where(
                or_(
                    col(Approval.created_at) > created,
                    and_(col(Approval.created_at) == created, col(Approval.id) > approval_id),
                )
            )
        query = query.order_by(col(Approval.created_at), col(Approval.id)).limit(limit)
        async with self.database.session(readonly=True) as session:
            return list((await session.exec(query)).all())

    async def pending_duplicate(self, conversation_id: str, tool: str, arguments: Any) -> Approval | None:
        """A pending approval of this conversation for the very same call, if there is one."""
        digest = arguments_hash(clean_json(arguments if isinstance(arguments, dict) else {}))
        async with self.database.session(readonly=True) as session:
            rows = await session.exec(
                select(Approval).where(
                    col(Approval.conversation_id) == conversation_id,
                    col(Approval.kind) == HeldKind.APPROVAL,
                    col(Approval.status) == ApprovalStatus.PENDING,
                    col(Approval.tool) == tool,
                    col(Approval.arguments_hash) == digest,
                )
            )
            return rows.first()

    async def _transition(
        self,
        approval_id: str,
        expected: Sequence[str],
        extra: Any = None,
        *,
        audit: HeldDecision | None = None,
        **values: Any,
    ) -> bool:
        """Move the approval out of one of the `expected` statuses; True if this caller made the change. A
        decision (`audit`) is written to the audit log, and told to the conversation feed, in the same transaction, by
        the caller that won only."""
        condition = [col(Approval.id) == approval_id, col(Approval.status).in_(expected)]
        if extra is not None:
            condition.append(extra)
        async with self.database.session() as session:
            changed = await session.exec(update(Approval).where(*condition).values(**values))
            won = changed.rowcount == 1
            if won and audit is not None:
                decided = await session.get(Approval, approval_id)  # as this UPDATE left it, read once for both
                assert decided is not None
                await record_held_decision(session, decided, audit)
                await feed.record(session, [feed.held_call_decided(decided)])
            await session.commit()
        return bool(won)

    async def approve(
        self, approval_id: str, approver: Principal, note: str, arguments: dict[str, Any], amount_cents: int
    ) -> bool:
        return await self._decide(
            approval_id,
            approver,
            note,
            status=ApprovalStatus.APPROVED,
            executed_arguments=arguments,
            executed_hash=arguments_hash(arguments),
            executed_amount_cents=amount_cents,
        )

    async def reject(self, approval_id: str, approver: Principal, note: str) -> bool:
        return await self._decide(approval_id, approver, note, status=ApprovalStatus.REJECTED)

    async def _decide(
        self, approval_id: str, approver: Principal, note: str, *, status: ApprovalStatus, **values: Any
    ) -> bool:
        """A human decision: only on a pending approval that has not expired. The customer's on their own
        confirmation reads `confirmed | declined` in the audit log; staff's on an approval `approved | rejected`."""
        now = utcnow()
        outcome = audit_outcome(status, approver.is_customer)
        return await self._transition(
            approval_id,
            UNDECIDED,
            col(Approval.expires_at) > now,
            audit=HeldDecision(outcome, approver.id, approver.role, note),
            status=status,
            decided_at=now,
            decided_by=approver.id,
            decided_role=approver.role,
            note=note,
            **values,
        )

    async def expire(self, approval_id: str) -> bool:
        now = utcnow()
        return await self._transition(
            approval_id,
            UNDECIDED,
            col(Approval.expires_at) <= now,
            audit=HeldDecision(ApprovalStatus.EXPIRED, SERVICE_ID, SERVICE_ID, "not answered before it expired"),
            status=ApprovalStatus.EXPIRED,
            decided_at=now,
        )

    async def record_execution(self, approval_id: str, *, ok: bool, result: dict[str, Any]) -> bool:
        return await self._transition(
            approval_id,
            (ApprovalStatus.APPROVED,),
            status=ApprovalStatus.EXECUTED if ok else ApprovalStatus.FAILED,
            result=clean_json(result),
        )

    async def escalate(self, confirmation_id: str, decision: Decision) -> bool:
        """A confirmed call the policy now holds for a human: it ran nothing; the run that answers the
        confirmation opens the approval (`escalated_decision` reads the decision back)."""
        body = {"escalated": dataclasses.asdict(decision)}
        return await self._transition(
            confirmation_id, (ApprovalStatus.APPROVED,), status=ApprovalStatus.ESCALATED, result=clean_json(body)
        )

    async def withdraw_open(self, conversation_id: str, customer: str) -> list[str]:
        """Decline the conversation's open confirmations because the customer wrote something else instead."""
        async with self.database.session() as session:
            open_ids = list(
                (
                    await session.exec(
                        select(Approval.id).where(
                            col(Approval.conversation_id) == conversation_id,
                            col(Approval.kind) == HeldKind.CONFIRMATION,
                            col(Approval.status) == ApprovalStatus.PENDING,
                        )
                    )
                ).all()
            )
        withdrawn = []
        for held_id in open_ids:
            withdrawal = HeldDecision(ApprovalStatus.WITHDRAWN, customer, "customer", WITHDRAWN)
            if await self._transition(
                held_id,
                UNDECIDED,
                audit=withdrawal,
                status=ApprovalStatus.WITHDRAWN,
                decided_at=utcnow(),
                note=WITHDRAWN,
            ):
                withdrawn.append(held_id)
        return withdrawn

    async def held_in(self, run_id: str) -> Approval | None:
        """The call `run_id` paused on (an approval or a confirmation), if it paused."""
        async with self.database.session(readonly=True) as session:
            return await held_call_of(session, run_id)

    async def held_run(self, run: Run) -> HeldRun:
        """A run read back, with the call it paused on as it stands now (`agent.conversations.records.run_view` shows
        it)."""
        return HeldRun(run, await self.held_in(run.id))

    async def resumed_by(self, run_id: str) -> Approval | None:
        """The approval whose decision `run_id` was answering, if it was such a run."""
        async with self.database.session(readonly=True) as session:
            return (await session.exec(select(Approval).where(col(Approval.resumed_run_id) == run_id))).first()

    async def due_for_expiry(self) -> list[str]:
        async with self.database.session(readonly=True) as session:
            rows = await session.exec(
                select(Approval.id).where(
                    col(Approval.status) == ApprovalStatus.PENDING, col(Approval.expires_at) <= utcnow()
                )
            )
            return list(rows.all())

    async def unfinished(self, decided_before: datetime) -> list[str]:
        """Decided approvals whose execution or resumed run never happened: their process stopped half-way."""
        async with self.database.session(readonly=True) as session:
            rows = await session.exec(
                select(Approval.id).where(
                    col(Approval.status).in_(
                        [
                            ApprovalStatus.APPROVED,
                            ApprovalStatus.EXECUTED,
                            ApprovalStatus.FAILED,
                            ApprovalStatus.REJECTED,
                            ApprovalStatus.EXPIRED,
                            ApprovalStatus.ESCALATED,
                        ]
                    ),
                    col(Approval.resumed_run_id).is_(None),
                    col(Approval.decided_at) <= decided_before,
                )
            )
            return list(rows.all())


async def held_call_of(session: AsyncSession, run_id: str) -> Approval | None:
    """The call a run paused on, if it paused: a run pauses once, on one call."""
    return (await session.exec(select(Approval).where(col(Approval.run_id) == run_id))).first()


async def record_held_decision(session: AsyncSession, held: Approval, decision: HeldDecision) -> None:
    """The audit row of a decision on a held call, next to the policy's own decisions on the same call. Its
    `call_id` is the held call's id (not the model's tool_use id), so it never stands in for the policy's row
    of that call; its `rule` names the kind and the outcome, e.g. `confirmation.declined`."""
    await session.exec(
        insert(PolicyDecisionRecord.__table__).values(  # type: ignore[attr-defined]
            created_at=utcnow(),
            tool=held.tool,
            call_id=held.id,
            run_id=held.run_id,
            arguments=held.arguments,
            principal_id=decision.by,
            principal_role=decision.role,
            outcome=decision.outcome,
            rule=f"{held.kind}.{decision.outcome}",
            reason=decision.reason,
            approver_role=held.approver_role,
            amount_cents=held.amount_cents,
            policy_version=held.policy_version,
        )
    )
