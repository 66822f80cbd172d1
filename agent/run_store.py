"""Storing conversations and runs. Every write here is a short transaction of its own: nothing is held open
across a model call, and each state change is durable before the next step starts."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import BindParameter, String, Table, Update, bindparam, case, exists, func, literal, null, update
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from agent import feed
from agent.admission import Admission
from agent.batched import Bound, Write, built_once, insert_row, insert_rows, merged, run_before, run_together
from agent.batched import run as run_bound
from agent.errors import ConversationBusy, ConversationOwned
from agent.handoffs import nobody_owns, open_handoff, owner_of, with_staff_exchanges
from agent.ids import new_id
from agent.models.base import Message
from agent.spend import DailySpend
from agent.tables import Approval, ChatMessage, Conversation, IdempotentRequest, Run, Step
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
INTERRUPTED = "interrupted: the process answering it stopped"


@dataclass(frozen=True, slots=True)
class RunTotals:
    model_calls: int
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    cost_micro_usd: int


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
        self.admission = admission or Admission(per_minute=1_000_000, spend=spend)
        self.spend = spend
        self.lease = lease
        """This process's lease: runs it starts are marked as its own, so others can tell when it is gone."""

    # ---- conversations ------------------------------------------------------------------------------------

    async def create_conversation(self, customer_id: str) -> Conversation:
        conversation = Conversation(id=new_id("conv"), customer_id=customer_id, created_at=utcnow())
        row = {"id": conversation.id, "customer_id": customer_id, "created_at": conversation.created_at}
        stored = insert_row(_CONVERSATIONS, row, "conversation")
        await self.database.execute_alone(stored.statement, stored.values)
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
        claim_values = {
            "claim_conversation_id": conversation.id,
            "claim_customer_id": conversation.customer_id,
            "claim_run_id": run.id,
            "claim_at": now,
        }
        async with self.database.session() as session:
            try:
                seen, taken = await self.admission.take(
                    session, _CLAIM, claim_values, conversation.customer_id, now, run.id
                )
                so_far = None if seen is None else ConversationSoFar(**{f: bool(seen._mapping[f]) for f in _SO_FAR})
                if taken is None:
                    await self._take_over_stale(session, conversation, run.id, now)
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

    async def start_follow_up(self, conversation_id: str, customer_id: str, *, resumed_from: str) -> Run | None:
        """A run that continues where `resumed_from` stopped (a crash), taking over its conversation claim.
        None if another process got there first."""
        run = self.resumed_run(conversation_id, customer_id, resumed_from=resumed_from)
        now = run.started_at
        async with self.database.session() as session:
            taken = await session.exec(
                update(Conversation)
                .where(col(Conversation.id) == conversation_id, col(Conversation.active_run_id) == resumed_from)
                .values(active_run_id=run.id, active_since=now)
            )
            if taken.rowcount != 1:
                await session.rollback()
                return None
            admitted = await self.admission.reserve(session, customer_id, now, run.id)
            run.reserved_micro_usd = admitted.reserved_micro_usd
            session.add(run)
            await feed.record(session, [feed.run_started(run)], conversation_locked=True)
            await session.commit()
        return run

    async def reserve_spend(self, run: Run) -> str | None:
        """Reserve daily spend for a run that did not start from a customer message (a resumed run). Returns the
        budget that is used up, or None."""
        if self.spend is None or run.reserved_micro_usd:
            return None
        async with self.database.session() as session:
            admitted = await self.admission.reserve(session, run.customer_id, run.started_at, run.id)
            if admitted.reserved_micro_usd:
                await session.exec(
                    update(Run).where(col(Run.id) == run.id).values(reserved_micro_usd=admitted.reserved_micro_usd)
                )
            await session.commit()
        run.reserved_micro_usd = admitted.reserved_micro_usd
        return admitted.spent_budget

    async def _take_over_stale(
        self, session: AsyncSession, conversation: Conversation | ConversationRef, run_id: str, now: datetime
    ) -> None:
        """Claim a conversation whose active run belongs to no live process (or, for a run of no known process,
        is older than `stale_after`) and mark that run interrupted; otherwise the conversation is busy. A
        conversation that is not there, or not the customer's, is not found (the first claim checked both)."""
        conversation_id = conversation.id
        stored = await session.get(Conversation, conversation_id)
        if stored is None or stored.customer_id != conversation.customer_id:
            await session.rollback()
            raise NotFound("conversation not found")
        active = (
            await session.exec(
                select(Run)
                .join(Conversation, col(Conversation.active_run_id) == col(Run.id))
                .where(col(Conversation.id) == conversation_id)
            )
        ).first()
        interrupted = active if active is not None and active.status == "running" else None
        owner = interrupted.worker_id if interrupted is not None else None
        owner_gone = owner is not None and self.lease is not None and await self.lease.is_gone(session, owner)
        if owner_gone and active is not None and active.resumed_from is not None:
            owner_gone = False  # a resumed run carries an approver's decision: recovery re-answers it, not us
        if active is not None and active.status != "running":
            owner_gone = True  # a claim left behind by a run that has ended
        stale = col(Conversation.active_since) < now - self.stale_after
        condition = col(Conversation.active_run_id) == active.id if owner_gone and active else stale
        taken = await session.exec(
            update(Conversation)
            .where(col(Conversation.id) == conversation_id, condition, nobody_owns(conversation_id))
            .values(active_run_id=run_id, active_since=now)
        )
        if taken.rowcount != 1:
            await session.rollback()
            if await owner_of(session, conversation_id) is not None:
                raise ConversationOwned("a member of the support team owns this conversation")
            raise ConversationBusy("another message of this conversation is being answered")
        await session.exec(
            update(Run)
            .where(col(Run.conversation_id) == conversation_id, col(Run.status) == "running")
            .values(status="failed", error=INTERRUPTED, finished_at=now)
        )
        if interrupted is not None:  # its feed readers saw it start: tell them it ended
            session.expunge(interrupted)  # a copy for the event; the update above already changed the row
            interrupted.status, interrupted.error, interrupted.finished_at = "failed", INTERRUPTED, now
            await feed.record(session, [feed.run_ended(interrupted, None)], conversation_locked=True)

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
    ) -> Run:
        """Close the run, store its steps and the audit rows of its reads, add its reply to the conversation,
        release the conversation, and tell the conversation feed, in one transaction. `held` is the call the run
        paused on, if it paused (the feed's `run.completed` carries it as the run's pending action). `run` is
        updated in place and returned; nothing is read back."""
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
                writes, writes.index(release), message, events, run, held
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
                handoff = await open_handoff(session, run, steps, now)
                if handoff is not None:
                    events.append(feed.handoff_moved(handoff, "handoff.queued", None, reason=handoff.reason))
            events.append(feed.run_ended(run, held))
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
) -> tuple[Any, dict[str, Any]]:
    """PostgreSQL: a run's close (`writes`, the reply `message`, and the feed's `events` then the run's end) as
    one statement and its values. The events ride on the release (`writes[release_at]`), which holds the
    conversation's row whether or not the run still held its claim: their ids are drawn only after it holds the
    row, as `feed.record` requires."""
    stored = _storing(message, "reply") if message is not None else None
    closing = [
        *events,
        *([feed.message_created_pending(message)] if message is not None else []),
        feed.run_ended(run, held),
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


_SO_FAR = ("earlier_runs", "loose_messages", "open_confirmations")


def _so_far(conversation_id: str | BindParameter[str]) -> tuple[Any, ...]:
    """`ConversationSoFar`'s fields as SQL, answered by the statement that claims the conversation."""
    return (
        literal(True).label("claimed"),
        exists().where(col(Run.conversation_id) == conversation_id).label("earlier_runs"),
        exists()
        .where(col(ChatMessage.conversation_id) == conversation_id, col(ChatMessage.run_id).is_(None))
        .label("loose_messages"),
        exists()
        .where(
            col(Approval.conversation_id) == conversation_id,
            col(Approval.kind) == "confirmation",
            col(Approval.status) == "pending",
        )
        .label("open_confirmations"),
    )


def _claiming() -> Update:
    """The conditional update that claims a conversation for a new run (`start_turn`) and reports what the
    conversation holds. Built once, with its values bound when it runs (`claim_*`): building and keying a
    statement of this size for every message cost about as much CPU as running it."""
    conversation_id = bindparam("claim_conversation_id", type_=String())
    return (
        update(Conversation)
        .where(
            col(Conversation.id) == conversation_id,
            col(Conversation.customer_id) == bindparam("claim_customer_id", type_=String()),
            col(Conversation.active_run_id).is_(None),
            nobody_owns(conversation_id),
        )
        .values(active_run_id=bindparam("claim_run_id"), active_since=bindparam("claim_at"))
        .returning(*_so_far(conversation_id))
    )


_CLAIM = _claiming()


_CONVERSATIONS: Table = Conversation.__table__  # type: ignore[attr-defined]
_RUNS: Table = Run.__table__  # type: ignore[attr-defined]
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
