"""PostgreSQL's write paths for a turn: each start and each close as one statement (its own transaction), the
writes as common table expressions on one snapshot, all or nothing. The generic paths they replace are
`generic_writes`'s; a hand-off's close, which reads what it opens, stays there."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

from sqlalchemy import BindParameter, String, bindparam, func, null
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from agent.conversations import feed
from agent.conversations.admission import CONVERSATION_IF_ALLOWED, Allowance
from agent.conversations.generic_writes import GenericWrites
from agent.conversations.steps import StepRecord
from agent.conversations.tables import Approval, ChatMessage, Run
from agent.conversations.turns import ConversationSoFar, storing
from agent.held.handoffs import HandoffNote
from agent.held.status import RunStatus
from agent.models.base import Message
from agent.quality.run_flags import Flag
from basics.batched import Bound, Write, built_once, merged

_STARTS: dict[Hashable, Any] = {}
_CLOSES: dict[Hashable, Any] = {}


class PostgresWrites(GenericWrites):
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
        events = [feed.message_created_pending(message), feed.run_started(run)]
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
