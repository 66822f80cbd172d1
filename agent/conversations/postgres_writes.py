"""PostgreSQL's write paths for a turn: each start and each close as one statement (its own transaction), the
writes as common table expressions on one snapshot, all or nothing. The generic paths they replace are
`generic_writes`'s; a hand-off's close, which reads what it opens, stays there.

A customer's message starts its turn in one round trip (`PostgresWrites.start_alone`): claim, admission, run,
message, events and history, where a transaction of four round trips (BEGIN, the claim with admission, the run
with its message, COMMIT) did the same. A claim that must be taken over from a dead run goes the long way, in a
session (`agent.conversations.store`), where `start` stores the run and its message."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

from sqlalchemy import BindParameter, String, bindparam, exists, func, insert, literal, null
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from agent.conversations import feed
from agent.conversations.admission import CONVERSATION_IF_ALLOWED, Admission, Allowance
from agent.conversations.claims import FOR_MESSAGE, SO_FAR
from agent.conversations.generic_writes import GenericWrites
from agent.conversations.steps import StepRecord
from agent.conversations.tables import Approval, ChatMessage, Run
from agent.conversations.turns import (
    BIND_IDEMPOTENT_RUN,
    MESSAGES,
    RELEASE,
    RUNS,
    ConversationSoFar,
    StartedTurn,
    storing,
)
from agent.held.handoffs import HandoffNote
from agent.held.status import RunStatus
from agent.models.base import Message
from agent.quality.run_flags import Flag
from basics.batched import Bound, Write, built_once, merged
from basics.database import Database

_STARTS: dict[Hashable, Any] = {}
_CLOSES: dict[Hashable, Any] = {}


class PostgresWrites(GenericWrites):
    def __init__(self, database: Database) -> None:
        super().__init__(database)
        self._starting_alone: dict[Hashable, Any] = {}
        """The one-statement starts, per admission (its limits shape the SQL) and with or without an idempotency
        key."""

    async def start_alone(
        self,
        admission: Admission,
        run: Run,
        claiming: dict[str, Any],
        message: ChatMessage,
        idempotency_key: str | None,
    ) -> StartedTurn | None:
        """A customer's message and its run started in one statement, which is its own transaction (no BEGIN or
        COMMIT around it): the claim, the rate token, the spend reservation, the run, the message, their feed
        events, the history and the idempotency key's binding, each write waiting on the one before it, so a
        message that is refused stores nothing of its own. None when the claim took nothing (nothing else ran
        either): the caller takes the conversation over in a session, or finds it busy, owned or not there.

        What is left to do after it, rarely: a message over the rate limit leaves the conversation claimed, and
        it is given back by a second statement before the refusal; a reservation one counter refused while the
        other took it is given back by one (the run holds nothing, `DailySpend.judged`). PostgreSQL cannot
        change one row twice in one statement, so neither can ride on this one."""
        customer, now = run.customer_id, run.started_at
        statement = built_once(
            self._starting_alone,
            (admission, idempotency_key is not None),
            lambda: _start_alone_statement(admission, idempotency_key is not None),
        )
        row_values = {column.name: getattr(run, column.name) for column in RUNS.columns}
        message_values = message.model_dump(exclude={"id"})
        events = _turn_started(message, run)
        values = {
            **admission.values(claiming, customer, now, run.id),
            **{f"run_{name}": value for name, value in row_values.items()},
            **{f"message_{name}": value for name, value in message_values.items()},
            **feed.event_values(events, "event"),
            "history_conversation_id": run.conversation_id,
        }
        if idempotency_key is not None:
            values |= {"idempotent_customer": customer, "idempotent_key": idempotency_key, "idempotent_run": run.id}
        (row,) = await self.database.execute_alone(statement, values)
        if row.claimed is None:
            return None
        taken = admission.taken(row)
        if not taken.token:
            release = {"release_conversation_id": run.conversation_id, "release_run_id": run.id}
            await self.database.execute_alone(RELEASE, release)
            async with self.database.session(readonly=True) as session:
                raise await admission.chat.refusal(session, customer, now)
        spent = None
        if admission.spend is not None:
            spent, give_back = admission.spend.judged(customer, now.date(), taken.reserved)
            if give_back is not None:
                await self.database.execute_alone(give_back.statement, give_back.values)
            run.reserved_micro_usd = 0 if spent else admission.spend.reservation_micro_usd
        message.id = row.message_id
        so_far = ConversationSoFar(**{name: bool(row._mapping[name]) for name in SO_FAR})
        history = None if so_far.loose_messages else _history(row.history)
        return StartedTurn(run, message, spent, so_far, history)

    async def create_conversation(self, allowance: Allowance, params: dict[str, Any], row: dict[str, Any]) -> None:
        """The allowance taken and the conversation stored in one statement."""
        if await self.database.execute_alone(CONVERSATION_IF_ALLOWED, {**params, **row}):
            return
        async with self.database.session(readonly=True) as session:
            raise await allowance.refusal(session, row["customer_id"], row["created_at"])

    async def start(
        self,
        session: AsyncSession,
        run: Run,
        store_run: Bound,
        message: ChatMessage,
        so_far: ConversationSoFar | None,
    ) -> list[Message] | None:
        # One statement: the run, the message, and the feed's events, which read the message's id from its
        # insert (the claim before it already holds the conversation's row, which orders the feed). The history
        # rides on it too when it is the runs' transcripts alone; it reads the conversation as it was before the
        # statement: the earlier runs.
        store_message = storing(message, "message")
        with_history = so_far is not None and not so_far.loose_messages
        events = _turn_started(message, run)
        shape = (store_run.statement, store_message.statement, len(events), feed.pending_at(events), with_history)
        statement = built_once(_STARTS, shape, lambda: _start_statement(*shape))
        values = merged([store_run, store_message]) | feed.event_values(events, "event")
        returned = tuple(
            (await session.exec(statement, params={**values, "history_conversation_id": run.conversation_id})).one()
        )
        message.id = returned[0]
        return _history(returned[1]) if with_history else None

    async def close(
        self,
        run: Run,
        writes: list[Bound],
        release: Bound,
        message: ChatMessage | None,
        events: list[feed.Event],
        held: Approval | None,
        steps: list[StepRecord] | None,
        flags: Sequence[Flag] = (),
        handoff_note: HandoffNote | None = None,
    ) -> None:
        if run.status == RunStatus.HANDED_OFF:
            await super().close(run, writes, release, message, events, held, steps, flags, handoff_note)
            return
        statement, statement_values = _close_in_one_statement(
            writes, writes.index(release), message, events, run, held, flags
        )
        # One statement is its own transaction: no BEGIN or COMMIT of ours around it.
        (row,) = await self.database.execute_alone(statement, statement_values)
        if message is not None:
            message.id = row.reply_id


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
    stored = storing(message, "reply") if message is not None else None
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


def _turn_started(message: ChatMessage, run: Run) -> list[feed.Event]:
    """A new turn's feed events, on both starts: the message's (its id written in from its insert, `pending_at`
    0), then the run's. `_start_alone_statement` is built for exactly these two."""
    return [feed.message_created_pending(message), feed.run_started(run)]


def _start_alone_statement(admission: Admission, with_key: bool) -> Any:
    """The statement `PostgresWrites.start_alone` runs: what `Admission.admitting` takes, then the run (only if
    the token was taken, holding the reservation if both counters took it), the message (only if the run was
    stored), their events (likewise; drawn after the claim holds the conversation's row) and the key's binding.
    Its columns: what was taken and claimed, the message's id and the history before this turn."""
    admitting, outcome = admission.admitting(FOR_MESSAGE)
    taken = admitting[1]
    computed = {"reserved_micro_usd": admission.spend.held_in_sql(admitting[2])} if admission.spend else {}
    run = _row_if(RUNS, "run", taken, computed=computed, returning="id").cte("run")
    message = _row_if(MESSAGES, "message", run, returning="id", skip=("id",)).cte("message")
    events = feed.insert_after(2, "event", pending=0, message_id=message.c.id, gate=message).cte("events")
    bound: list[Any] = []
    if with_key:
        bound.append(BIND_IDEMPOTENT_RUN.where(exists(select(literal(1)).select_from(run))).cte("idempotent"))
    stored = select(message.c.id).scalar_subquery().label("message_id")
    history = _transcripts(bindparam("history_conversation_id", type_=String())).label("history")
    return select(*[*outcome, stored, history]).add_cte(*admitting, run, message, events, *bound)


def _row_if(
    table: Any,
    prefix: str,
    gate: Any,
    *,
    computed: dict[str, Any] | None = None,
    returning: str | None = None,
    skip: tuple[str, ...] = (),
) -> Any:
    """`basics.batched.row_insert`'s one row of `table` (every column but `skip`, each the parameter
    `{prefix}_{column}` unless `computed` gives it as SQL) as an `INSERT ... SELECT` that inserts nothing unless
    `gate` (a CTE) returned a row."""
    names = [column.name for column in table.columns if column.name not in skip]
    chosen = computed or {}
    values = [
        (chosen[name] if name in chosen else bindparam(f"{prefix}_{name}", type_=table.c[name].type)).label(name)
        for name in names
    ]
    statement = insert(table).from_select(names, select(*values).where(exists(select(literal(1)).select_from(gate))))
    return statement.returning(table.c[returning]) if returning else statement


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
