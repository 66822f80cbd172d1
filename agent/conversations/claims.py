"""A conversation's claim: the one run that may answer in it right now.

Every run holds its conversation's claim (`conversations.active_run_id`) from the transaction that stores it to
the one that closes it: a run answering a customer's message, a run resumed by a decision (the customer's
Confirm, a team member's approval, an expiry), and a run a live process starts in place of one whose process
died. All of them take it here, with one conditional update, so while any of them answers, a new message gets
`ConversationBusy` (409) and two runs never answer one conversation at once: the replies come in the order the
runs started.

The update claims a conversation that nobody holds, or, for a run that takes over from a dead one, that the
dead run still holds (`replacing`). When it claims nothing, `take_over` looks at who holds it: a run of a process
that is gone (or that ended without giving it back) is taken over and marked interrupted; otherwise the
conversation is busy. A customer's message also needs that no person owns the conversation (a claimed hand-off);
a run answering a decision does not, since the decision must reach the customer whoever else is talking to them.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import BindParameter, ColumnElement, String, Update, bindparam, exists, literal, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from agent.conversations import feed
from agent.conversations.tables import Approval, ChatMessage, Conversation, Run
from agent.errors import ConversationBusy, ConversationOwned
from agent.held.handoffs import nobody_owns, owner_of
from agent.held.status import ApprovalStatus, HeldKind, RunStatus
from agent.processes.leases import WorkerLease
from tools.errors import NotFound

INTERRUPTED = "interrupted: the process answering it stopped"
SO_FAR = ("earlier_runs", "loose_messages", "open_confirmations", "open_approvals")
"""What the claim of a new message reports of its conversation (`agent.conversations.store.ConversationSoFar`)."""


class ConversationKey(Protocol):
    """A conversation as a claim names it: a stored `Conversation`, or a reference not yet checked."""

    @property
    def id(self) -> str: ...

    @property
    def customer_id(self) -> str: ...


def _so_far(conversation_id: str | BindParameter[str]) -> tuple[Any, ...]:
    return (
        literal(True).label("claimed"),
        exists().where(col(Run.conversation_id) == conversation_id).label("earlier_runs"),
        exists()
        .where(col(ChatMessage.conversation_id) == conversation_id, col(ChatMessage.run_id).is_(None))
        .label("loose_messages"),
        exists()
        .where(
            col(Approval.conversation_id) == conversation_id,
            col(Approval.kind) == HeldKind.CONFIRMATION,
            col(Approval.status) == ApprovalStatus.PENDING,
        )
        .label("open_confirmations"),
        exists()
        .where(
            col(Approval.conversation_id) == conversation_id,
            col(Approval.kind) == HeldKind.APPROVAL,
            col(Approval.status) == ApprovalStatus.PENDING,
        )
        .label("open_approvals"),
    )


def _claiming(*, for_message: bool) -> Update:
    """The conditional update that claims a conversation, built once, its values bound when it runs (`claim_*`):
    building and keying a statement of this size for every message cost about as much CPU as running it."""
    conversation_id = bindparam("claim_conversation_id", type_=String())
    free: ColumnElement[bool] = col(Conversation.active_run_id).is_(None)
    if not for_message:
        free = or_(free, col(Conversation.active_run_id) == bindparam("claim_replacing", type_=String()))
    conditions = [
        col(Conversation.id) == conversation_id,
        col(Conversation.customer_id) == bindparam("claim_customer_id", type_=String()),
        free,
    ]
    if for_message:
        conditions.append(nobody_owns(conversation_id))
    statement = (
        update(Conversation)
        .where(*conditions)
        .values(active_run_id=bindparam("claim_run_id"), active_since=bindparam("claim_at"))
    )
    return statement.returning(*_so_far(conversation_id)) if for_message else statement.returning(literal(True))


FOR_MESSAGE = _claiming(for_message=True)
"""The claim of a run answering a customer's message (it rides on the statement that admits the message, see
`agent.conversations.admission`)."""
FOR_DECISION = _claiming(for_message=False)
"""The claim of a run that answers a decision or takes over from a dead run."""


def claim_values(conversation: ConversationKey, run_id: str, now: datetime) -> dict[str, Any]:
    return {
        "claim_conversation_id": conversation.id,
        "claim_customer_id": conversation.customer_id,
        "claim_run_id": run_id,
        "claim_at": now,
    }


class Claims:
    """Taking a conversation's claim, by the rules above, inside the caller's transaction."""

    def __init__(self, *, stale_after: timedelta, lease: WorkerLease | None) -> None:
        self.stale_after = stale_after
        """A run of no known process that holds its conversation longer than this was interrupted."""
        self.lease = lease

    async def take(
        self,
        session: AsyncSession,
        conversation: ConversationKey,
        run_id: str,
        now: datetime,
        *,
        replacing: str | None = None,
    ) -> None:
        """Claim the conversation for a run answering a decision, or taking over from `replacing` (a dead run);
        `ConversationBusy` if another run holds it. A new message's claim is `FOR_MESSAGE`, run with its
        admission; when that claims nothing, its caller goes on with `take_over` as this does."""
        values = {**claim_values(conversation, run_id, now), "claim_replacing": replacing}
        if (await session.exec(FOR_DECISION, params=values)).first() is None:
            await self.take_over(session, conversation, run_id, now, for_message=False)

    async def take_over(
        self, session: AsyncSession, conversation: ConversationKey, run_id: str, now: datetime, *, for_message: bool
    ) -> None:
        """Claim a conversation whose active run belongs to no live process (or, for a run of no known process,
        is older than `stale_after`), or that ended without giving it back, and mark that run interrupted;
        otherwise the conversation is busy (or, for a message, owned by a person). A conversation that is not
        there, or not the customer's, is not found (the first claim checked both)."""
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
        interrupted = active if active is not None and active.status == RunStatus.RUNNING else None
        owner = interrupted.worker_id if interrupted is not None else None
        owner_gone = owner is not None and self.lease is not None and await self.lease.is_gone(session, owner)
        if owner_gone and active is not None and active.resumed_from is not None:
            owner_gone = False  # a resumed run carries a decision or a message: recovery answers it again, not us
        if active is not None and active.status != RunStatus.RUNNING:
            owner_gone = True  # a claim left behind by a run that has ended
        stale = col(Conversation.active_since) < now - self.stale_after
        condition = col(Conversation.active_run_id) == active.id if owner_gone and active else stale
        if active is None and stored.active_run_id is not None:
            # A claim of a run that was never stored: a message refused over the rate limit on PostgreSQL, whose
            # process stopped before giving the conversation back (`PostgresWrites.start_alone`).
            condition = col(Conversation.active_run_id) == stored.active_run_id
        conditions = [col(Conversation.id) == conversation_id, condition]
        if for_message:
            conditions.append(nobody_owns(conversation_id))
        claim = update(Conversation).where(*conditions).values(active_run_id=run_id, active_since=now)
        taken = await session.exec(claim)
        if taken.rowcount != 1:
            await session.rollback()
            if for_message and await owner_of(session, conversation_id) is not None:
                raise ConversationOwned("a member of the support team owns this conversation")
            raise ConversationBusy("another message of this conversation is being answered")
        await session.exec(
            update(Run)
            .where(col(Run.conversation_id) == conversation_id, col(Run.status) == RunStatus.RUNNING)
            .values(status=RunStatus.FAILED, error=INTERRUPTED, finished_at=now)
        )
        if interrupted is not None:  # its feed readers saw it start: tell them it ended
            session.expunge(interrupted)  # a copy for the event; the update above already changed the row
            interrupted.status, interrupted.error, interrupted.finished_at = RunStatus.FAILED, INTERRUPTED, now
            await feed.record(session, [feed.run_ended(interrupted, None)], conversation_locked=True)
