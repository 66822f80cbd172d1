"""The conversation feed's events: what each change in a conversation looks like to the customer's widget.

Every store that changes a conversation (a message stored, a run started or ended, a held call opened or decided,
a hand-off moved) adds the matching events with `record`, inside the transaction that makes the change: the
feed shows a change exactly when it is committed, and the event costs no transaction of its own. A transaction
that produces several events writes them with one multi-row insert. The vocabulary and the `data` shapes are
documented for client authors in docs/feed.md; `message` and `run` objects are the API's own
(`agent.conversations.records`).

Ephemeral events (reply text as it streams, a tool call starting) are not stored here: they only exist in the
per-message stream of the run that produces them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import CTE, ColumnElement, Insert, bindparam, exists, func, insert, literal, literal_column, union_all
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from agent.conversations.records import HeldRun, confirmation_card, message_view, run_view
from agent.conversations.steps import StepKind, StepRecord
from agent.conversations.tables import Approval, ChatMessage, Conversation, ConversationEvent, Feedback, Handoff, Run
from agent.held.status import ApprovalStatus, HeldKind, RunStatus, feed_answer
from agent.quality.run_flags import Flag
from basics.batched import row_parameters, rows_values
from basics.clock import utcnow
from basics.dialects import dialect_of
from tools.registry import registry
from tools.store.money import to_dollars

Event = dict[str, Any]
"""A row of `conversation_events`, ready for the multi-row insert."""

EVENT_COLUMNS = ("conversation_id", "kind", "data", "run_id", "created_at")
_EVENTS = ConversationEvent.__table__  # type: ignore[attr-defined]
_INSERT_EVENTS = insert(_EVENTS).values({name: bindparam(name, type_=_EVENTS.c[name].type) for name in EVENT_COLUMNS})
"""One event's insert, run once per event of a transaction (`record`); its columns are named, so the statement is
the same whichever values an event carries."""

STORED_KINDS = (
    "message.created",
    "run.started",
    "tool.finished",
    "confirmation.required",
    "confirmation.decided",
    "approval.required",
    "approval.decided",
    "handoff.queued",
    "handoff.claimed",
    "handoff.replied",
    "handoff.closed",
    "run.completed",
    "run.failed",
    "feedback.given",
)


def tool_label(tool: str) -> str:
    """What the widget shows while a tool runs: the label the tool was registered with (`tools.registry`), never
    its name (an unknown name, e.g. a model's invention, gets a neutral label)."""
    return registry.label_of(tool)


def event(kind: str, conversation_id: str, *, run_id: str | None = None, **data: Any) -> Event:
    assert kind in STORED_KINDS, kind
    body = {"conversation_id": conversation_id, **({"run_id": run_id} if run_id else {}), **data}
    return {"conversation_id": conversation_id, "kind": kind, "data": body, "run_id": run_id, "created_at": utcnow()}


async def record(session: AsyncSession, events: Sequence[Event], *, conversation_locked: bool = False) -> None:
    """Add events to the caller's transaction (one statement however many); they commit, or vanish, with it.

    Readers resume "after id N", so within a conversation ids must become visible in id order: a transaction
    that drew id 10 must not commit after one that drew id 11, or a reader that saw 11 would never see 10. On
    SQLite every writing transaction is alone, so that holds by itself. On PostgreSQL every transaction that
    writes a conversation's events first holds the conversation's row lock, so they commit one at a time (and
    nothing else is held up: the lock only meets other updates of that one row). A turn's own transactions
    already hold it, from the update that claims or releases the conversation (`conversation_locked`), and so
    cost no extra statement."""
    if not events:
        return
    if not conversation_locked and dialect_of(session.bind).concurrent_writers:
        for conversation_id in sorted({str(e["conversation_id"]) for e in events}):
            row = select(Conversation.id).where(col(Conversation.id) == conversation_id)
            await session.exec(row.with_for_update(key_share=True))  # FOR NO KEY UPDATE, as an UPDATE takes
    await session.exec(_INSERT_EVENTS, params=list(events))


def pending_at(events: Sequence[Event]) -> int | None:
    """Where the `message.created` event of a message not yet stored is (`message_created_pending`), if any."""
    return next(
        (
            position
            for position, row in enumerate(events)
            if row["kind"] == "message.created" and row["data"]["message"]["id"] is None
        ),
        None,
    )


def event_values(events: Sequence[Event], prefix: str) -> dict[str, Any]:
    """The values of `insert_after`'s parameters for these events."""
    return rows_values(events, EVENT_COLUMNS, prefix)


def insert_after(
    count: int,
    prefix: str,
    *,
    pending: int | None = None,
    message_id: ColumnElement[Any] | None = None,
    gate: CTE | None = None,
) -> Insert:
    """PostgreSQL: `count` events as one `INSERT ... SELECT`, to ride as a CTE on a turn's batched statement
    (`basics.batched`) instead of costing a statement of its own. Each value is the parameter
    `{prefix}{i}_{column}` (`event_values`), so the statement is built once for its shape.

    The ids are drawn as the rows are inserted, in the events' order. Two data dependencies keep `record`'s
    guarantee inside one statement: with `gate` (a CTE of the update that holds the conversation's row, e.g. the
    release) the rows exist only if it returned a row, so the ids are drawn after the lock is held (a gate that
    matched nothing inserts nothing: the caller then falls back to `record`); with `message_id` (the RETURNING
    column of the statement that stores a message) the event at `pending` (`pending_at`: a `message.created`
    built by `message_created_pending`) gets that id written into its `data`."""
    assert count, "an INSERT ... SELECT of no rows: call it with at least one event"
    table = ConversationEvent.__table__  # type: ignore[attr-defined]
    rows: list[Any] = []
    for position in range(count):
        values: list[Any] = row_parameters(table, EVENT_COLUMNS, position, prefix)
        if message_id is not None and position == pending:
            values[2] = func.jsonb_set(values[2], literal_column("'{message,id}'"), func.to_jsonb(message_id))
        labelled: list[Any] = [value.label(name) for value, name in zip(values, EVENT_COLUMNS, strict=True)]
        rows.append(select(*labelled, literal(position).label("position")))  # type: ignore[call-overload]
    both: Any = rows[0] if len(rows) == 1 else union_all(*rows)
    source = both.subquery("new_events")
    # Ordered in a subquery PostgreSQL does not flatten, so the ids are drawn in this order.
    query = select(*(source.c[name] for name in EVENT_COLUMNS)).order_by(source.c.position)
    if gate is not None:
        query = query.where(exists(select(literal(1)).select_from(gate)))
    return insert(table).from_select(list(EVENT_COLUMNS), query)


# ---- one builder per change -----------------------------------------------------------------------------------


def message_created(message: ChatMessage) -> Event:
    """A stored message (it must have its id: flush or insert it first)."""
    assert message.id is not None
    return message_created_pending(message)


def message_created_pending(message: ChatMessage) -> Event:
    """A message's event built before the message has its id: `insert_after` writes the id in as it stores it."""
    return event(
        "message.created",
        message.conversation_id,
        run_id=message.run_id,
        message=message_view(message).model_dump(mode="json"),
    )


def run_started(run: Run) -> Event:
    return event("run.started", run.conversation_id, run_id=run.id, resumed_from=run.resumed_from)


def run_ended(run: Run, held: Approval | None, flags: Sequence[Flag] = ()) -> Event:
    kind = "run.failed" if run.status == RunStatus.FAILED else "run.completed"
    shown = run_view(HeldRun(run, held, tuple(flags))).model_dump(mode="json")
    return event(kind, run.conversation_id, run_id=run.id, run=shown)


def tools_finished(run: Run, steps: Sequence[StepRecord]) -> list[Event]:
    """The run's tool calls, stored with its steps: a reloaded widget can show what was looked up or done."""
    return [
        event(
            "tool.finished",
            run.conversation_id,
            run_id=run.id,
            tool=step.tool,
            tool_use_id=step.tool_use_id,
            label=tool_label(str(step.tool)),
            outcome=step.decision,
            ok=step.result is not None and not step.is_error,
        )
        for step in steps
        if step.kind == StepKind.TOOL
    ]


def held_call_opened(held: Approval) -> Event:
    """A call held for the customer's confirmation, or for a support agent's approval."""
    if held.kind == HeldKind.CONFIRMATION:
        return event(
            "confirmation.required",
            held.conversation_id,
            run_id=held.run_id,
            **confirmation_card(held).model_dump(mode="json"),
        )
    return event(
        "approval.required",
        held.conversation_id,
        run_id=held.run_id,
        approval_id=held.id,
        tool=held.tool,
        amount=to_dollars(held.amount_cents),
        approver_role=held.approver_role,
        expires_at=held.expires_at.isoformat(),
    )


def held_call_decided(held: Approval) -> Event:
    """The decision that took a held call out of `pending` (read back after the conditional update)."""
    decision = feed_decision(held)
    if held.kind == HeldKind.CONFIRMATION:
        return event("confirmation.decided", held.conversation_id, run_id=held.run_id, id=held.id, decision=decision)
    approved = held.executed_amount_cents
    return event(
        "approval.decided",
        held.conversation_id,
        run_id=held.run_id,
        approval_id=held.id,
        decision=decision,
        note=held.note,
        amount=to_dollars(approved) if approved is not None else None,
    )


def feed_decision(held: Approval) -> str | None:
    """A held call's decision in the feed's words (None while pending): the same words whether the widget hears
    it on the feed or reads it back after a reload. A confirmed call that then ran, failed or went to a person
    was still confirmed; an approval whose executed arguments differ from the proposed ones was amended."""
    if held.status == ApprovalStatus.PENDING:
        return None
    if held.kind == HeldKind.CONFIRMATION:
        return feed_answer(held.status)
    if held.status in (ApprovalStatus.REJECTED, ApprovalStatus.EXPIRED):
        return held.status
    return ApprovalStatus.APPROVED if held.executed_hash in (None, held.arguments_hash) else "amended"


def handoff_moved(handoff: Handoff, kind: str, actor: str | None, **data: Any) -> Event:
    """A hand-off event; the queuing belongs to the run that handed over (its per-message stream shows it)."""
    run_id = handoff.run_id if kind == "handoff.queued" else None
    return event(kind, handoff.conversation_id, run_id=run_id, handoff_id=handoff.id, actor=actor, **data)


def feedback_given(given: Feedback) -> Event:
    """The customer's verdict on an answer ("Was this helpful?"): every open page of the conversation can show
    the question as answered."""
    return event(
        "feedback.given",
        given.conversation_id,
        run_id=given.run_id,
        helpful=given.helpful,
        comment=given.comment,
    )


# ---- reading --------------------------------------------------------------------------------------------------


async def events_after(
    session: AsyncSession, conversation_id: str, after: int, *, limit: int, run_id: str | None = None
) -> list[ConversationEvent]:
    """Stored events of one conversation after id `after`, oldest first: one indexed range read."""
    query = select(ConversationEvent).where(
        col(ConversationEvent.conversation_id) == conversation_id, col(ConversationEvent.id) > after
    )
    if run_id is not None:
        query = query.where(col(ConversationEvent.run_id) == run_id)
    rows = await session.exec(query.order_by(col(ConversationEvent.id)).limit(limit))
    return list(rows.all())
