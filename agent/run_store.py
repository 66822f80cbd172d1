"""Storing conversations and runs. Every write here is a short transaction of its own: nothing is held open
across a model call, and each state change is durable before the next step starts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Hashable, Sequence
from dataclasses import asdict, dataclass
from datetime import timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import BindParameter, String, Table, Update, bindparam, case, func, null, update
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlmodel import col, select

from agent import feed
from agent.admission import CONVERSATION_IF_ALLOWED, TAKE_ONE, Admission
from agent.batched import Bound, Write, built_once, insert_row, insert_rows, merged, run_before, run_together
from agent.batched import run as run_bound
from agent.claims import FOR_MESSAGE, INTERRUPTED, SO_FAR, Claims, claim_values
from agent.errors import ConversationBusy
from agent.handoffs import HandoffNote, open_handoff, with_staff_exchanges
from agent.ids import new_id
from agent.models.base import Message
from agent.quality.run_flags import Flag, flag_rows
from agent.spend import DailySpend
from agent.tables import Approval, ChatMessage, Conversation, IdempotentRequest, Run, RunFlag, Step
from agent.workers import WorkerLease
from policies.audit import PolicyDecisionRecord
from tools.context import Principal, utcnow
from tools.errors import NotFound
from tools.store.database import Database
from tools.store.sanitize import clean_json, clean_text

TERMINAL_STATUSES = (
    "completed",
    "awaiting_confirmation",
    "awaiting_approval",
    "handed_off",
    "budget_exhausted",
    "failed",
)
__all__ = ["INTERRUPTED", "RunStore"]


@dataclass(frozen=True, slots=True)
class RunTotals:
    model_calls: int
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    cost_micro_usd: int


@dataclass(frozen=True, slots=True)
class AnsweredWith:
    """How a run was answered: the route it started on and why, why it moved to the default route (if it did),
    and the prompt version (`agent.routes`, `agent.prompt_versions`)."""

    route: str
    route_reason: str
    route_escalation: str | None
    prompt_version: str
    prompt_id: str


@dataclass(frozen=True, slots=True)
class ConversationRef:
    """A conversation a customer names, not yet checked: `start_turn` checks it belongs to them as it claims it."""

    id: str
    customer_id: str


@dataclass(frozen=True, slots=True)
class ConversationSoFar:
    """What the claim that started a turn saw of its conversation (in the same statement), so the turn skips the
    reads that would find nothing: a first message has no history, and most conversations never had a person in
    them nor a confirmation left open."""

    earlier_runs: bool
    loose_messages: bool
    """Messages written outside runs (a hand-off's exchanges): see `agent.handoffs.with_staff_exchanges`."""
    open_confirmations: bool
    open_approvals: bool = False
    """An action of the conversation waits for a person of the support team: the turn is about it, likely."""

    @property
    def open_held_call(self) -> bool:
        """A confirmation card or an approval of the conversation is still open (`agent.router`)."""
        return self.open_confirmations or self.open_approvals


@dataclass(frozen=True, slots=True)
class Resumed:
    """A run stored to answer a decision, or to take over from a dead run, holding its conversation."""

    run: Run
    spent_budget: str | None
    """A daily budget that is used up: the run is answered without calling the model."""


@dataclass(frozen=True, slots=True)
class StartedTurn:
    run: Run
    message: ChatMessage
    """The customer's message as stored."""
    spent_budget: str | None = None
    """A daily budget that is used up: the run is answered without calling the model."""
    so_far: ConversationSoFar | None = None
    """None when the claim took over a stale one: then nothing is known and everything is read."""
    history: list[Message] | None = None
    """The conversation so far as the model sees it, when the statements that started the turn read it."""


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
            stored = insert_row(_CONVERSATIONS, row, "conversation")
            await self.database.execute_alone(stored.statement, stored.values)
            return conversation
        params = allowance.params(customer_id, conversation.created_at)
        if self.database.dialect == "postgresql":
            created = await self.database.execute_alone(CONVERSATION_IF_ALLOWED, {**params, **row})
            if created:
                return conversation
            async with self.database.session(readonly=True) as session:
                raise await allowance.refusal(session, customer_id, conversation.created_at)
        async with self.database.session() as session:
            if (await session.exec(TAKE_ONE, params=params)).first() is None:  # type: ignore[call-overload]
                raise await allowance.refusal(session, customer_id, conversation.created_at)
            stored = insert_row(_CONVERSATIONS, row, "conversation")
            await run_bound(session, stored)
            await session.commit()
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
        the support team and the customer said to each other outside runs (see `agent.handoffs`). `so_far`
        spares the reads that would come back empty."""
        if so_far is not None and not so_far.loose_messages:
            earlier = await self.runs(conversation_id) if so_far.earlier_runs else []
            return with_staff_exchanges(earlier, [], before_run)
        async with self.database.session(readonly=True) as session:
            loose = await session.exec(
                select(ChatMessage)
                .where(ChatMessage.conversation_id == conversation_id, col(ChatMessage.run_id).is_(None))
                .order_by(col(ChatMessage.id))
            )
            outside_runs = list(loose.all())
        return with_staff_exchanges(await self.runs(conversation_id), outside_runs, before_run)

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
        message (chat rate limit, daily spend reservation), all in one transaction.

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
            status="running",
            started_at=now,
            worker_id=self.lease.worker_id if self.lease else None,
        )
        claiming = claim_values(conversation, run.id, now)
        async with self.database.session() as session:
            try:
                seen, taken = await self.admission.take(
                    session, FOR_MESSAGE, claiming, conversation.customer_id, now, run.id
                )
                so_far = None if seen is None else ConversationSoFar(**{f: bool(seen._mapping[f]) for f in SO_FAR})
                if taken is None:
                    await self.claims.take_over(session, conversation, run.id, now, for_message=True)
                    taken = await self.admission.take_alone(session, conversation.customer_id, now, run.id)
                admitted = await self.admission.decide(session, conversation.customer_id, now, taken)
            except BaseException:
                await session.rollback()
                raise
            run.reserved_micro_usd = admitted.reserved_micro_usd
            message = ChatMessage(
                conversation_id=conversation.id,
                run_id=run.id,
                role="customer",
                content=clean_text(content),
                created_at=now,
            )
            store_run = insert_row(_RUNS, {column.name: getattr(run, column.name) for column in _RUNS.columns}, "run")
            store_message = _storing(message, "message")
            if self.database.dialect == "postgresql":
                # One statement: the run, the message, and the feed's events, which read the message's id from its
                # insert (the claim above already holds the conversation's row, which orders the feed). The
                # history rides on it too when it is the runs' transcripts alone; it reads the conversation as it
                # was before the statement: the earlier runs.
                with_history = so_far is not None and not so_far.loose_messages
                events = [feed.message_created_pending(message), feed.run_started(run)]
                shape = (
                    store_run.statement,
                    store_message.statement,
                    len(events),
                    feed.pending_at(events),
                    with_history,
                )
                statement = built_once(_STARTS, shape, lambda: _start_statement(*shape))
                values = merged([store_run, store_message]) | feed.event_values(events, "event")
                returned = tuple(
                    (await session.exec(statement, params={**values, "history_conversation_id": conversation.id})).one()
                )
                message.id = returned[0]
                history = _history(returned[1]) if with_history else None
            else:
                await run_bound(session, store_run)
                message.id = (await run_bound(session, store_message)).scalar_one()
                history = None
                await feed.record(session, [feed.message_created(message), feed.run_started(run)])
            if idempotency_key is not None:
                await session.exec(
                    update(IdempotentRequest)
                    .where(
                        col(IdempotentRequest.customer_id) == conversation.customer_id,
                        col(IdempotentRequest.key) == idempotency_key,
                    )
                    .values(run_id=run.id)
                )
            await session.commit()
        return StartedTurn(run, message, admitted.spent_budget, so_far, history)

    def resumed_run(self, conversation_id: str, customer_id: str, *, resumed_from: str) -> Run:
        """A new running run (not yet stored) that continues `resumed_from`, owned by this process."""
        return Run(
            id=new_id("run"),
            conversation_id=conversation_id,
            customer_id=customer_id,
            status="running",
            started_at=utcnow(),
            resumed_from=resumed_from,
            worker_id=self.lease.worker_id if self.lease else None,
        )

    async def start_resumed(
        self, run: Run, *, held_id: str | None = None, replacing: str | None = None, wait_s: float = 0.0
    ) -> Resumed | None:
        """Store `run` (a `resumed_run`), which answers the decision on the held call `held_id` or takes over from
        `replacing` (a run whose process died), with its conversation's claim taken exactly as a new message's is
        (`agent.claims`) and its day's spend reserved, in one transaction. None when another process already
        resumed the held call. While another run holds the conversation, it tries again for up to `wait_s` (that
        run ends within its wall-clock budget), then raises `ConversationBusy`, leaving the decision for the
        recovery pass (`ApprovalDesk.recover`)."""
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
        steps: list[dict[str, Any]] | None = None,
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
        assert status in TERMINAL_STATUSES, status
        now = utcnow()
        values: dict[str, Any] = {
            "status": status,
            "reply": clean_text(reply) if reply else reply,
            "transcript": clean_json(transcript),
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
            Bound(_closing_run(tuple(values)), {"close_run_id": run.id, **{f"close_{k}": v for k, v in values.items()}})
        ]
        events: list[feed.Event] = []
        if steps:
            for step in steps:
                step["arguments"] = clean_json(step["arguments"])
                step["result"] = clean_json(step["result"])
            writes.append(insert_rows(Step.__table__, steps, "step"))  # type: ignore[attr-defined]
            events.extend(feed.tools_finished(run, steps))
        if decisions:
            writes.append(insert_rows(PolicyDecisionRecord.__table__, decisions, "decision"))  # type: ignore[attr-defined]
        if flags:  # rare: a run without flags adds nothing to its close
            writes.append(insert_rows(_FLAGS, flag_rows(run.id, run.conversation_id, flags, now), "flag"))
        release = Bound(_RELEASE, {"release_conversation_id": run.conversation_id, "release_run_id": run.id})
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
        if self.database.dialect == "postgresql" and status != "handed_off":
            statement, statement_values = _close_in_one_statement(
                writes, writes.index(release), message, events, run, held, flags
            )
            # One statement is its own transaction: no BEGIN or COMMIT of ours around it.
            (row,) = await self.database.execute_alone(statement, statement_values)
            if message is not None:
                message.id = row.reply_id
            return run
        async with self.database.session() as session:
            if message is not None:
                # The reply goes last, so its id (which its `message.created` event carries) comes back.
                stored = await run_before(session, writes, _storing(message, "reply"))
                message.id = stored.scalar_one()
                events.append(feed.message_created(message))
            else:
                await run_together(session, writes)
            if status == "handed_off":
                handoff = await open_handoff(session, run, steps, now, note=handoff_note)
                if handoff is not None:
                    events.append(feed.handoff_moved(handoff, "handoff.queued", None, reason=handoff.reason))
            events.append(feed.run_ended(run, held, flags))
            # The release above holds the conversation's row, whether or not this run still held its claim.
            await feed.record(session, events, conversation_locked=True)
            await session.commit()
        return run

    async def get_run(self, run_id: str) -> Run:
        async with self.database.session(readonly=True) as session:
            run = await session.get(Run, run_id)
        if run is None:
            raise NotFound(f"run {run_id} not found")
        return run


def _storing(message: ChatMessage, prefix: str) -> Bound:
    """The insert of a new message, returning its id."""
    return insert_row(_MESSAGES, message.model_dump(exclude={"id"}), prefix, returning="id")


def _close_in_one_statement(
    writes: list[Bound],
    release_at: int,
    message: ChatMessage | None,
    events: list[feed.Event],
    run: Run,
    held: Approval | None,
    flags: Sequence[Flag],
) -> tuple[Any, dict[str, Any]]:
    """PostgreSQL: a run's close (`writes`, the reply `message`, and the feed's `events` then the run's end) as
    one statement and its values. The events ride on the release (`writes[release_at]`), which holds the
    conversation's row whether or not the run still held its claim: their ids are drawn only after it holds the
    row, as `feed.record` requires."""
    stored = _storing(message, "reply") if message is not None else None
    closing = [
        *events,
        *([feed.message_created_pending(message)] if message is not None else []),
        feed.run_ended(run, held, flags),
    ]
    shape = (
        tuple(write.statement for write in writes),
        release_at,
        None if stored is None else stored.statement,
        len(closing),
        feed.pending_at(closing),
    )
    statement = built_once(_CLOSES, shape, lambda: _close_statement(*shape))
    values = merged([*writes, *([stored] if stored is not None else [])]) | feed.event_values(closing, "event")
    return statement, values


def _close_statement(
    writes: tuple[Write, ...], release_at: int, reply: Write | None, events: int, pending: int | None
) -> Any:
    """The statement `_close_in_one_statement` runs, for one shape: it returns the reply's id (null without a
    reply)."""
    ctes = [write.cte(f"write_{i}") for i, write in enumerate(writes)]
    released = ctes[release_at]
    stored = reply.cte("reply") if reply is not None else None
    stored_events = feed.insert_after(
        events, "event", pending=pending, message_id=None if stored is None else stored.c.id, gate=released
    )
    reply_id = select(stored.c.id).scalar_subquery() if stored is not None else null()
    return select(reply_id.label("reply_id")).add_cte(
        *ctes, *([stored] if stored is not None else []), stored_events.cte("events")
    )


def _start_statement(run: Write, message: Write, events: int, pending: int | None, with_history: bool) -> Any:
    """The statement that stores a turn's run, its message and their events, and reads the history (`start_turn`),
    for one shape. Two columns either way, so the result is a row (one column would come back bare)."""
    stored_message = message.cte("message")
    history = _transcripts(bindparam("history_conversation_id", type_=String())) if with_history else null()
    return (
        select(stored_message.c.id, history)
        .add_cte(run.cte("run"), stored_message)
        .add_cte(feed.insert_after(events, "event", pending=pending, message_id=stored_message.c.id).cte("events"))
    )


def _transcripts(conversation_id: str | BindParameter[str]) -> Any:
    """SQL (PostgreSQL): the transcripts of the conversation's runs, oldest first, as one JSON array."""
    return (
        select(func.json_agg(aggregate_order_by(col(Run.transcript), col(Run.started_at))))
        .where(col(Run.conversation_id) == conversation_id)
        .scalar_subquery()
    )


def _history(transcripts: list[list[dict[str, Any]]] | None) -> list[Message]:
    """`with_staff_exchanges` for a conversation without messages outside runs: the transcripts, in order."""
    return [Message.from_json(message) for transcript in transcripts or [] for message in transcript]


_CONVERSATIONS: Table = Conversation.__table__  # type: ignore[attr-defined]

_RUNS: Table = Run.__table__  # type: ignore[attr-defined]
_FLAGS: Table = RunFlag.__table__  # type: ignore[attr-defined]
_MESSAGES: Table = ChatMessage.__table__  # type: ignore[attr-defined]
_STARTS: dict[Hashable, Any] = {}
_CLOSES: dict[Hashable, Any] = {}


@lru_cache(maxsize=8)
def _closing_run(names: tuple[str, ...]) -> Update:
    """The update that closes a run, setting the columns `names` from the parameters `close_{name}`."""
    values = {name: bindparam(f"close_{name}", type_=_RUNS.c[name].type) for name in names}
    return update(Run).where(col(Run.id) == bindparam("close_run_id", type_=String())).values(**values)


_STILL_HELD = col(Conversation.active_run_id) == bindparam("release_run_id", type_=String())
_RELEASE = (
    update(Conversation)
    .where(col(Conversation.id) == bindparam("release_conversation_id", type_=String()))
    .values(
        active_run_id=case((_STILL_HELD, None), else_=col(Conversation.active_run_id)),
        active_since=case((_STILL_HELD, None), else_=col(Conversation.active_since)),
    )
    .returning(col(Conversation.id))
)
"""A run gives its conversation back if it still holds it. Either way the update takes the conversation's row
and returns its id, so the close's feed events, gated on it, always come after the row lock that orders the feed
(a run whose claim was taken over gives nothing back, but the feed still hears how it ended)."""
