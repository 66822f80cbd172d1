"""Hand-offs: conversations the assistant passed to the support team, and what people say in them.

    (run ends handed_off) ──▶ queued ──claim──▶ claimed ──close(bot | resolved)──▶ closed
                                 └──────────────close (supervisor)───────────────────▲
                            close(bot): the assistant tells the customer it is back, and a run answers what
                            the customer wrote to the team that nobody answered (`agent.held.handoff_closing`)

A hand-off is opened in the same transaction that ends the run handing over, so no handed-off conversation can
be missing from the queue. Claiming is one conditional update: of two people claiming at once, one wins. While a
person owns the conversation, the customer's messages are stored for that person and start no model run; the
person's replies are messages with role `agent`. Messages written outside a run reach the model in later turns
as a service notice (see `with_staff_exchanges`), so the assistant knows what the team told the customer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from sqlalchemy import BindParameter, ColumnElement, exists, func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from agent.conversations import feed
from agent.conversations.steps import StepRecord
from agent.conversations.tables import ChatMessage, Conversation, Handoff, Run
from agent.errors import HandoffConflict, NotHandoffOwner
from agent.held.status import ANY_OPEN, OPEN_HANDOFF, HandoffFilterName, HandoffStatus
from agent.models.base import Message, TextBlock
from agent.turn.replies import HANDED_BACK, HANDED_BACK_ANSWERING, NOTICE_PREFIX
from basics.clock import utcnow
from basics.database import Database
from basics.principal import Principal
from tools.errors import NotFound
from tools.store.sanitize import clean_text

Outcome = Literal["bot", "resolved"]
TRANSFER_TOOL = "transfer_to_human_agents"
EXPIRED_SUMMARY = (
    "An action held for approval expired before anyone decided it; the customer was told a person will follow up."
)
STAFF_EXCHANGE_ACK = "Noted: the support team handled that part of the conversation."


@dataclass(frozen=True, slots=True)
class HandoffNote:
    """Why the service itself handed a conversation over (no transfer tool was called): the reason code the desk
    shows in words (`api.desk.wording.HANDOFF_REASONS`) and the summary the team reads."""

    reason: str
    summary: str


REPLY_HELD = "reply_held"
"""A reply was withheld for a person to check (`SUPPORT_GROUNDING_FLAGS=hold`, `agent.quality`)."""


async def open_handoff(
    session: AsyncSession,
    run: Run,
    steps: Sequence[StepRecord] | None,
    now: datetime,
    *,
    note: HandoffNote | None = None,
) -> Handoff | None:
    """Queue the conversation of a run that ended `handed_off`, inside the caller's transaction (which also
    records the feed's `handoff.queued`). A conversation already waiting for (or owned by) a person keeps its one
    open hand-off. Without a transfer call, `note` says why (else: an approval expired)."""
    existing = await session.exec(
        select(Handoff.id).where(
            col(Handoff.conversation_id) == run.conversation_id, col(Handoff.status).in_(OPEN_HANDOFF)
        )
    )
    if existing.first() is not None:
        return None
    transfer = next((s for s in steps or () if s.tool == TRANSFER_TOOL), None)
    arguments = transfer.arguments if transfer else None
    summary = str(arguments.get("summary") or "") if isinstance(arguments, dict) else ""
    if transfer:
        reason = "transfer_requested"
    elif note is not None:
        reason, summary = note.reason, note.summary
    else:
        reason, summary = "approval_expired", EXPIRED_SUMMARY
    handoff = Handoff(
        id=f"hoff_{run.id.removeprefix('run_')}",
        conversation_id=run.conversation_id,
        customer_id=run.customer_id,
        status=HandoffStatus.QUEUED,
        reason=reason,
        summary=clean_text(summary),
        run_id=run.id,
        created_at=now,
    )
    session.add(handoff)
    return handoff


def nobody_owns(conversation_id: str | BindParameter[str]) -> ColumnElement[bool]:
    """SQL: no person owns this conversation now. Part of the conditional update that starts a run."""
    return ~exists().where(
        col(Handoff.conversation_id) == conversation_id, col(Handoff.status) == HandoffStatus.CLAIMED
    )


async def owner_of(session: AsyncSession, conversation_id: str) -> Handoff | None:
    """The claimed hand-off of this conversation, if a person owns it now."""
    rows = await session.exec(
        select(Handoff).where(
            col(Handoff.conversation_id) == conversation_id, col(Handoff.status) == HandoffStatus.CLAIMED
        )
    )
    return rows.first()


@dataclass(frozen=True, slots=True)
class HandoffFilter:
    status: HandoffFilterName | None = ANY_OPEN
    claimed_by: str | None = None


class HandoffStore:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def find(self, where: HandoffFilter, *, limit: int = 100) -> list[Handoff]:
        """Oldest first: the order the team should answer them in."""
        query = select(Handoff)
        if where.status == ANY_OPEN:
            query = query.where(col(Handoff.status).in_(OPEN_HANDOFF))
        elif where.status:
            query = query.where(col(Handoff.status) == where.status)
        if where.claimed_by:
            query = query.where(col(Handoff.claimed_by) == where.claimed_by)
        query = query.order_by(col(Handoff.created_at), col(Handoff.id)).limit(limit)
        async with self.database.session(readonly=True) as session:
            return list((await session.exec(query)).all())

    async def get(self, handoff_id: str) -> Handoff:
        async with self.database.session(readonly=True) as session:
            handoff = await session.get(Handoff, handoff_id)
        if handoff is None:
            raise NotFound("hand-off not found")
        return handoff

    async def owned(self, conversation_id: str) -> Handoff | None:
        async with self.database.session(readonly=True) as session:
            return await owner_of(session, conversation_id)

    async def claim(self, handoff_id: str, staff: Principal) -> Handoff:
        now = utcnow()
        async with self.database.session() as session:
            changed = await session.exec(
                update(Handoff)
                .where(col(Handoff.id) == handoff_id, col(Handoff.status) == HandoffStatus.QUEUED)
                .values(status=HandoffStatus.CLAIMED, claimed_by=staff.id, claimed_at=now)
            )
            if changed.rowcount != 1:
                await session.rollback()
                raise HandoffConflict(await self._why_not(handoff_id, "claimed"))
            handoff = await session.get(Handoff, handoff_id)
            assert handoff is not None
            await feed.record(session, [feed.handoff_moved(handoff, "handoff.claimed", staff.id)])
            await session.commit()
        return await self.get(handoff_id)

    async def reply(self, handoff_id: str, staff: Principal, content: str) -> ChatMessage:
        """A message from the person who owns the hand-off, into the customer's conversation."""
        handoff = await self._owned_by(handoff_id, staff)
        now = utcnow()
        message = ChatMessage(
            conversation_id=handoff.conversation_id,
            role="agent",
            author_id=staff.id,
            content=clean_text(content),
            created_at=now,
        )
        async with self.database.session() as session:
            session.add(message)
            await session.flush()
            replied = feed.handoff_moved(handoff, "handoff.replied", staff.id, message_id=message.id)
            await feed.record(session, [feed.message_created(message), replied])
            await session.commit()
            await session.refresh(message)
        return message

    async def close(
        self, handoff_id: str, staff: Principal, outcome: Outcome, *, answer_in: Run | None = None
    ) -> HandedBack:
        """Close: the owner, or a supervisor for any open hand-off. `bot` gives the conversation back to the
        assistant, which says so to the customer; what the customer wrote to the team that nobody answered is
        then `answer_in`'s to answer (a running run, not yet stored: it is stored, holding the conversation, in
        the same transaction, unless another run already holds it)."""
        handoff = await self.get(handoff_id)
        if handoff.status == HandoffStatus.CLOSED:
            raise HandoffConflict(await self._why_not(handoff_id, "closed"))
        if staff.role != "supervisor" and handoff.claimed_by != staff.id:
            raise NotHandoffOwner("only the person who claimed this hand-off (or a supervisor) can close it")
        now = utcnow()
        unanswered: list[ChatMessage] = []
        async with self.database.session() as session:
            changed = await session.exec(
                update(Handoff)
                .where(col(Handoff.id) == handoff_id, col(Handoff.status) == handoff.status)
                .values(status=HandoffStatus.CLOSED, closed_by=staff.id, closed_at=now, outcome=outcome)
            )
            if changed.rowcount != 1:
                await session.rollback()
                raise HandoffConflict(await self._why_not(handoff_id, "closed"))
            events = [feed.handoff_moved(handoff, "handoff.closed", staff.id, outcome=outcome)]
            if outcome == "bot":
                unanswered = await unanswered_during(session, handoff)
                answering = answer_in if unanswered and answer_in is not None else None
                if answering is not None and not await _take_conversation(session, answering, unanswered, now):
                    answering, unanswered = None, []  # a new message's run holds it, and will read them all
                said = ChatMessage(
                    conversation_id=handoff.conversation_id,
                    role="assistant",
                    content=HANDED_BACK_ANSWERING if answering is not None else HANDED_BACK,
                    created_at=now,
                )
                session.add(said)
                await session.flush()
                events.append(feed.message_created(said))
                if answering is not None:
                    events.append(feed.run_started(answering))
            await feed.record(session, events)
            await session.commit()
        return HandedBack(await self.get(handoff_id), "\n\n".join(m.content for m in unanswered) or None)

    async def customer_wrote(self, handoff: Handoff, content: str) -> ChatMessage:
        """Store a customer's message for the person who owns the conversation; no run answers it."""
        message = ChatMessage(
            conversation_id=handoff.conversation_id, role="customer", content=clean_text(content), created_at=utcnow()
        )
        async with self.database.session() as session:
            session.add(message)
            await session.flush()
            await feed.record(session, [feed.message_created(message)])
            await session.commit()
            await session.refresh(message)
        return message

    async def conversation_of(self, handoff: Handoff) -> Conversation:
        async with self.database.session(readonly=True) as session:
            conversation = await session.get(Conversation, handoff.conversation_id)
        if conversation is None:
            raise NotFound("conversation not found")
        return conversation

    async def _owned_by(self, handoff_id: str, staff: Principal) -> Handoff:
        handoff = await self.get(handoff_id)
        if handoff.status != HandoffStatus.CLAIMED:
            raise HandoffConflict(f"hand-off {handoff_id} is {handoff.status}; claim it before replying")
        if handoff.claimed_by != staff.id:
            raise NotHandoffOwner(f"hand-off {handoff_id} is owned by {handoff.claimed_by}")
        return handoff

    async def _why_not(self, handoff_id: str, wanted: str) -> str:
        handoff = await self.get(handoff_id)
        if handoff.status == HandoffStatus.CLAIMED:
            return f"hand-off {handoff_id} was already claimed by {handoff.claimed_by}"
        return f"hand-off {handoff_id} is {handoff.status}; it cannot be {wanted}"


@dataclass(frozen=True, slots=True)
class HandedBack:
    handoff: Handoff
    unanswered: str | None = None
    """What the customer wrote during the hand-off that nobody answered: the words the run given to `close` as
    `answer_in` answers (None if there is nothing to answer, or another run already holds the conversation)."""


async def unanswered_during(session: AsyncSession, handoff: Handoff) -> list[ChatMessage]:
    """The customer's messages to the team since its last reply in this hand-off (all of them, if it never
    replied): only while a person owns a conversation are messages stored outside runs."""
    last_reply = (
        await session.exec(
            select(func.max(ChatMessage.id)).where(
                col(ChatMessage.conversation_id) == handoff.conversation_id, col(ChatMessage.role) == "agent"
            )
        )
    ).one()
    rows = await session.exec(
        select(ChatMessage)
        .where(
            col(ChatMessage.conversation_id) == handoff.conversation_id,
            col(ChatMessage.role) == "customer",
            col(ChatMessage.run_id).is_(None),
            col(ChatMessage.created_at) >= handoff.created_at,
            col(ChatMessage.id) > (last_reply or 0),
        )
        .order_by(col(ChatMessage.id))
    )
    return list(rows.all())


async def _take_conversation(session: AsyncSession, run: Run, messages: Sequence[ChatMessage], now: datetime) -> bool:
    """Store `run` holding the conversation, as the run that answers `messages` (which become its messages, so
    they reach its model as its input and not again as the team's exchange); False if another run holds it."""
    taken = await session.exec(
        update(Conversation)
        .where(col(Conversation.id) == run.conversation_id, col(Conversation.active_run_id).is_(None))
        .values(active_run_id=run.id, active_since=now)
    )
    if taken.rowcount != 1:
        return False
    session.add(run)
    await session.exec(
        update(ChatMessage).where(col(ChatMessage.id).in_([m.id for m in messages])).values(run_id=run.id)
    )
    return True


class RunTranscript(Protocol):
    """What the model's history needs of a run: a stored `Run`, or a row of its three columns."""

    @property
    def id(self) -> str: ...
    @property
    def started_at(self) -> datetime: ...
    @property
    def transcript(self) -> list[dict[str, Any]]: ...


def with_staff_exchanges(runs: Sequence[RunTranscript], loose: Sequence[ChatMessage], before_run: str) -> list[Message]:
    """The model's history: each run's transcript, with the messages written outside runs (a person's replies,
    and what the customer said to them) placed where they happened, as a service notice and a short
    acknowledgement, so the roles keep alternating as the Messages API requires."""
    messages: list[Message] = []
    waiting = list(loose)
    for run in runs:
        earlier = [m for m in waiting if m.created_at < run.started_at]
        waiting = [m for m in waiting if m.created_at >= run.started_at]
        messages.extend(_exchange(earlier))
        if run.id == before_run:
            return messages
        messages.extend(Message.from_json(m) for m in run.transcript)
    messages.extend(_exchange(waiting))
    return messages


def _exchange(said: Sequence[ChatMessage]) -> list[Message]:
    if not said:
        return []
    lines = [
        f"{'support team member ' + (m.author_id or '') if m.role == 'agent' else m.role}: {m.content}" for m in said
    ]
    notice = (
        f"{NOTICE_PREFIX} While a member of the support team looked after this conversation, these messages were "
        "exchanged:\n" + "\n".join(lines)
    )
    return [Message.user_text(notice), Message(role="assistant", content=(TextBlock(STAFF_EXCHANGE_ACK),))]
