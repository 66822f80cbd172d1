"""Storing conversations and runs. Every write here is a short transaction of its own: nothing is held open
across a model call, and each state change is durable before the next step starts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import asdict
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from agent.conversations import feed
from agent.conversations.admission import Admission
from agent.conversations.claims import FOR_MESSAGE, INTERRUPTED, SO_FAR, Claims, claim_values
from agent.conversations.generic_writes import GenericWrites
from agent.conversations.postgres_writes import PostgresWrites
from agent.conversations.steps import StepRecord
from agent.conversations.tables import Approval, ChatMessage, Conversation, Run, Step
from agent.conversations.turns import (
    BIND_IDEMPOTENT_RUN,
    CONVERSATIONS,
    FLAGS,
    RELEASE,
    RUNS,
    TRANSCRIPTS,
    AnsweredWith,
    ConversationRef,
    ConversationSoFar,
    KnownAtStart,
    Resumed,
    RunTotals,
    StartedTurn,
    TakeOverFirst,
    closing_run,
)
from agent.errors import ConversationBusy
from agent.held.handoffs import HandoffNote, with_staff_exchanges
from agent.held.status import ENDED, RunStatus
from agent.limits.spend import DailySpend
from agent.models.base import Message
from agent.processes.leases import WorkerLease
from agent.quality.run_flags import Flag, flag_rows
from basics.batched import Bound, insert_row, insert_rows
from basics.clock import utcnow
from basics.database import Database
from basics.driver_statements import DriverTransaction
from basics.ids import new_id
from basics.principal import Principal
from policies.audit import PolicyDecisionRecord
from tools.errors import NotFound
from tools.store.sanitize import clean_text, storable_json

__all__ = [
    "INTERRUPTED",
    "AnsweredWith",
    "ConversationRef",
    "ConversationSoFar",
    "KnownAtStart",
    "Resumed",
    "RunStore",
    "RunTotals",
    "StartedTurn",
]


class RunStore:
    def __init__(
        self,
        database: Database,
        *,
        stale_after: timedelta = timedelta(minutes=3),
        admission: Admission | None = None,
        spend: DailySpend | None = None,
        lease: WorkerLease | None = None,
    ) -> None:
        self.database = database
        self.writes = PostgresWrites(database) if database.traits.one_statement_writes else GenericWrites(database)
        """The backend's write paths: PostgreSQL's one statement per start and close, or a statement per write."""
        self.stale_after = stale_after
        """A run of no known process that holds its conversation longer than this was interrupted."""
        self.claims = Claims(stale_after=stale_after, lease=lease)
        self.admission = admission or Admission(per_minute=1_000_000, spend=spend)
        self.spend = spend
        self.lease = lease
        """This process's lease: runs it starts are marked as its own, so others can tell when it is gone."""

    # ---- conversations ------------------------------------------------------------------------------------

    async def create_conversation(self, customer_id: str) -> Conversation:
        """A new conversation of the customer's, taken from their allowance of new conversations (if there is
        one) in the same statement on PostgreSQL; `RateLimited` when it is used up, and nothing is stored."""
        conversation = Conversation(id=new_id("conv"), customer_id=customer_id, created_at=utcnow())
        row = {"id": conversation.id, "customer_id": customer_id, "created_at": conversation.created_at}
        allowance = self.admission.conversations
        if allowance is None:
            stored = insert_row(CONVERSATIONS, row, "conversation")
            await self.database.execute_alone(stored.statement, stored.values)
            return conversation
        await self.writes.create_conversation(allowance, allowance.params(customer_id, conversation.created_at), row)
        return conversation

    async def conversation_for(self, conversation_id: str, principal: Principal) -> Conversation:
        """The conversation if the principal may see it: its own customer, or staff. Otherwise not found."""
        async with self.database.session(readonly=True) as session:
            conversation = await session.get(Conversation, conversation_id)
        if conversation is None or not (principal.is_staff or conversation.customer_id == principal.id):
            raise NotFound("conversation not found")
        return conversation

    async def conversations_of(self, customer_id: str, *, limit: int) -> list[Conversation]:
        """The customer's own conversations, newest first (a widget reopening the last one after a reload)."""
        async with self.database.session(readonly=True) as session:
            rows = await session.exec(
                select(Conversation)
                .where(col(Conversation.customer_id) == customer_id)
                .order_by(col(Conversation.created_at).desc(), col(Conversation.id).desc())
                .limit(limit)
            )
            return list(rows.all())

    async def messages(self, conversation_id: str) -> list[ChatMessage]:
        async with self.database.session(readonly=True) as session:
            rows = await session.exec(
                select(ChatMessage).where(ChatMessage.conversation_id == conversation_id).order_by(col(ChatMessage.id))
            )
            return list(rows.all())

    async def runs(self, conversation_id: str) -> list[Run]:
        async with self.database.session(readonly=True) as session:
            rows = await session.exec(
                select(Run).where(Run.conversation_id == conversation_id).order_by(col(Run.started_at))
            )
            return list(rows.all())

    async def history(
        self, conversation_id: str, *, before_run: str, so_far: ConversationSoFar | None = None
    ) -> list[Message]:
        """The conversation as the model saw it, run after run, up to (not including) `before_run`, with what
        the support team and the customer said to each other outside runs (see `agent.held.handoffs`). `so_far`
        spares the reads that would come back empty."""
        if so_far is not None and not so_far.loose_messages:
            earlier = await self._transcripts(conversation_id) if so_far.earlier_runs else []
            return with_staff_exchanges(earlier, [], before_run)
        async with self.database.session(readonly=True) as session:
            loose = await session.exec(
                select(ChatMessage)
                .where(ChatMessage.conversation_id == conversation_id, col(ChatMessage.run_id).is_(None))
                .order_by(col(ChatMessage.id))
            )
            outside_runs = list(loose.all())
        return with_staff_exchanges(await self._transcripts(conversation_id), outside_runs, before_run)

    async def _transcripts(self, conversation_id: str) -> list[Any]:
        """The conversation's runs, oldest first, as rows of what the model's history needs of them (id, start,
        transcript): read on the direct path, without making a `Run` of each (a later message read every earlier
        run, whole, through the ORM)."""
        return await self.database.read_alone(TRANSCRIPTS, {"transcripts_conversation_id": conversation_id})

    # ---- a turn -------------------------------------------------------------------------------------------

    async def start_turn(
        self,
        conversation: Conversation | ConversationRef,
        content: str,
        *,
        run_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> StartedTurn:
        """Store the customer's message and a running run, after claiming the conversation and admitting the
        message (chat rate limit, daily spend reservation), all at once (PostgreSQL: `PostgresWrites.start_alone`).

        The claim is one conditional update, so two messages racing on one conversation cannot both start a
        run; the loser gets `ConversationBusy` and nothing of its message is stored (the client is told to
        retry). A claim held by a run whose process is gone is taken over. The same update refuses while a person
        owns the conversation (`ConversationOwned`): once a hand-off's claim is committed, no model run can start
        in its conversation. A message over the rate limit raises `RateLimited` and stores nothing.
        `idempotency_key`, when given, is bound to the new run.
        """
        now = utcnow()
        run = Run(
            id=run_id or new_id("run"),
            conversation_id=conversation.id,
            customer_id=conversation.customer_id,
            status=RunStatus.RUNNING,
            started_at=now,
            worker_id=self.lease.worker_id if self.lease else None,
        )
        claiming = claim_values(conversation, run.id, now)
        message = ChatMessage(
            conversation_id=conversation.id, run_id=run.id, role="customer", content=clean_text(content), created_at=now
        )
        if isinstance(self.writes, PostgresWrites):  # in one statement, unless the claim must be taken over
            started = await self.writes.start_alone(self.admission, run, claiming, message, idempotency_key)
            if started is not None:
                return started
        # Elsewhere on the direct path (`basics.driver_statements`) as a rule. A claim to take over from a dead run
        # goes the long way, in a session: the direct attempt rolls back first (`TakeOverFirst`).
        return await self.database.write(
            lambda statements: self._start(statements, conversation, message, run, claiming, idempotency_key),
            direct=not isinstance(self.writes, PostgresWrites),
        )

    async def _start(
        self,
        session: AsyncSession | DriverTransaction,
        conversation: Conversation | ConversationRef,
        message: ChatMessage,
        run: Run,
        claiming: dict[str, Any],
        idempotency_key: str | None,
    ) -> StartedTurn:
        """`start_turn`'s statements in the transaction of `session`, which the caller commits. On the direct path
        (a `DriverTransaction`) a claim that must be taken over raises `TakeOverFirst` instead. Run again in a
        session after that, so it changes nothing but the database and `run`."""
        now = run.started_at
        # A `DriverTransaction` answers the calls of a session that these make on the usual path.
        statements = cast(AsyncSession, session)
        customer = conversation.customer_id
        seen, taken = await self.admission.take(statements, FOR_MESSAGE, claiming, customer, now, run.id)
        so_far = None if seen is None else ConversationSoFar(**{f: bool(seen._mapping[f]) for f in SO_FAR})
        if taken is None:
            if not isinstance(session, AsyncSession):
                raise TakeOverFirst
            await self.claims.take_over(session, conversation, run.id, now, for_message=True)
            taken = await self.admission.take_alone(session, customer, now, run.id)
        admitted = await self.admission.decide(statements, customer, now, taken)
        run.reserved_micro_usd = admitted.reserved_micro_usd
        store_run = insert_row(RUNS, {column.name: getattr(run, column.name) for column in RUNS.columns}, "run")
        history = await self.writes.start(statements, run, store_run, message, so_far)
        if idempotency_key is not None:
            bound = {"idempotent_customer": customer, "idempotent_key": idempotency_key, "idempotent_run": run.id}
            await statements.exec(BIND_IDEMPOTENT_RUN, params=bound)
        return StartedTurn(run, message, admitted.spent_budget, so_far, history)

    def resumed_run(self, conversation_id: str, customer_id: str, *, resumed_from: str) -> Run:
        """A new running run (not yet stored) that continues `resumed_from`, owned by this process."""
        return Run(
            id=new_id("run"),
            conversation_id=conversation_id,
            customer_id=customer_id,
            status=RunStatus.RUNNING,
            started_at=utcnow(),
            resumed_from=resumed_from,
            worker_id=self.lease.worker_id if self.lease else None,
        )

    async def start_resumed(
        self, run: Run, *, held_id: str | None = None, replacing: str | None = None, wait_s: float = 0.0
    ) -> Resumed | None:
        """Store `run` (a `resumed_run`), which answers the decision on the held call `held_id` or takes over from
        `replacing` (a run whose process died), with its conversation's claim taken exactly as a new message's is
        (`agent.conversations.claims`) and its day's spend reserved, in one transaction. None when another process
        already
        resumed the held call. While another run holds the conversation, it tries again for up to `wait_s` (that
        run ends within its wall-clock budget), then raises `ConversationBusy`, leaving the decision for the
        recovery pass (`ApprovalDecisions.recover`)."""
        deadline = time.monotonic() + wait_s
        pause = 0.05
        while True:
            try:
                return await self._start_resumed(run, held_id=held_id, replacing=replacing)
            except ConversationBusy:
                if time.monotonic() + pause > deadline:
                    raise
            await asyncio.sleep(pause)  # another run is answering: it gives the conversation back when it ends
            pause = min(pause * 2, 1.0)

    async def _start_resumed(self, run: Run, *, held_id: str | None, replacing: str | None) -> Resumed | None:
        now = utcnow()
        run.started_at = now
        async with self.database.session() as session:
            if held_id is not None:
                # The held call first: its row, then the conversation's, as every writer of both takes them.
                resumed_by = col(Approval.resumed_run_id)
                claimed = await session.exec(
                    update(Approval)
                    .where(
                        col(Approval.id) == held_id,
                        resumed_by.is_(None) if replacing is None else resumed_by == replacing,
                    )
                    .values(resumed_run_id=run.id)
                )
                if claimed.rowcount != 1:
                    await session.rollback()
                    return None
            try:
                conversation = ConversationRef(run.conversation_id, run.customer_id)
                await self.claims.take(session, conversation, run.id, now, replacing=replacing)
                admitted = await self.admission.reserve(session, run.customer_id, now, run.id)
            except BaseException:
                await session.rollback()
                raise
            run.reserved_micro_usd = admitted.reserved_micro_usd
            session.add(run)
            await feed.record(session, [feed.run_started(run)], conversation_locked=True)
            await session.commit()
        return Resumed(run, admitted.spent_budget)

    async def finish_turn(
        self,
        run: Run,
        *,
        status: str,
        reply: str | None,
        transcript: list[dict[str, Any]],
        totals: RunTotals,
        model_provider: str,
        model_name: str,
        budget_exhausted: str | None = None,
        error: str | None = None,
        trace_id: str | None = None,
        steps: list[StepRecord] | None = None,
        decisions: list[dict[str, Any]] | None = None,
        kb_version: str | None = None,
        held: Approval | None = None,
        fallback_reason: str | None = None,
        answered_with: AnsweredWith | None = None,
        flags: Sequence[Flag] = (),
        handoff_note: HandoffNote | None = None,
    ) -> Run:
        """Close the run, store its steps, the audit rows of its reads and its flags (`agent.quality`), add its
        reply to the conversation, release the conversation, and tell the conversation feed, in one transaction.
        `held` is the call the run paused on, if it paused (the feed's `run.completed` carries it as the run's
        pending action). `handoff_note` says why a run that ends `handed_off` without calling the transfer tool
        went to a person. `run` is updated in place and returned; nothing is read back."""
        assert status in ENDED, status
        now = utcnow()
        values: dict[str, Any] = {
            "status": status,
            "reply": clean_text(reply) if reply else reply,
            "transcript": storable_json(transcript),
            "finished_at": now,
            "model_calls": totals.model_calls,
            "input_tokens": totals.input_tokens,
            "output_tokens": totals.output_tokens,
            "cache_read_tokens": totals.cache_read_tokens,
            "cache_write_tokens": totals.cache_write_tokens,
            "cost_micro_usd": totals.cost_micro_usd,
            "model_provider": model_provider,
            "model_name": model_name,
            "budget_exhausted": budget_exhausted,
            "error": error,
            "trace_id": trace_id,
            "kb_version": kb_version,
            "fallback_reason": fallback_reason,
        }
        if answered_with is not None:
            values.update(asdict(answered_with))
        for name, value in values.items():
            setattr(run, name, value)
        writes: list[Bound] = [
            Bound(closing_run(tuple(values)), {"close_run_id": run.id, **{f"close_{k}": v for k, v in values.items()}})
        ]
        events: list[feed.Event] = []
        if steps:
            for step in steps:
                step.arguments = storable_json(step.arguments)
                step.result = storable_json(step.result)
            writes.append(insert_rows(Step.__table__, [step.row() for step in steps], "step"))  # type: ignore[attr-defined]
            events.extend(feed.tools_finished(run, steps))
        if decisions:
            writes.append(insert_rows(PolicyDecisionRecord.__table__, decisions, "decision"))  # type: ignore[attr-defined]
        if flags:  # rare: a run without flags adds nothing to its close
            writes.append(insert_rows(FLAGS, flag_rows(run.id, run.conversation_id, flags, now), "flag"))
        release = Bound(RELEASE, {"release_conversation_id": run.conversation_id, "release_run_id": run.id})
        writes.append(release)
        if self.spend is not None:
            settled = self.spend.settlement(
                run.customer_id,
                run.started_at.date(),
                run.id,
                run.reserved_micro_usd,
                totals.cost_micro_usd,
            )
            writes.extend([settled] if settled is not None else [])
        message = None
        if reply:
            message = ChatMessage(
                conversation_id=run.conversation_id,
                run_id=run.id,
                role="assistant",
                content=values["reply"],
                created_at=now,
            )
        await self.writes.close(run, writes, release, message, events, held, steps, flags, handoff_note)
        return run

    async def get_run(self, run_id: str) -> Run:
        async with self.database.session(readonly=True) as session:
            run = await session.get(Run, run_id)
        if run is None:
            raise NotFound(f"run {run_id} not found")
        return run
