"""Storing conversations and runs. Every write here is a short transaction of its own: nothing is held open
across a model call, and each state change is durable before the next step starts."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from agent.errors import ConversationBusy, ConversationOwned
from agent.handoffs import nobody_owns, open_handoff, owner_of, with_staff_exchanges
from agent.models.base import Message
from agent.tables import ChatMessage, Conversation, Run, Step
from tools.context import Principal, utcnow
from tools.errors import NotFound
from tools.store.database import Database
from tools.store.sanitize import clean_json, clean_text

_INSERT_STEP = insert(Step.__table__)  # type: ignore[attr-defined]
_INSERT_MESSAGE = insert(ChatMessage.__table__)  # type: ignore[attr-defined]
TERMINAL_STATUSES = ("completed", "awaiting_approval", "handed_off", "budget_exhausted", "failed")


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


@dataclass(frozen=True, slots=True)
class RunTotals:
    model_calls: int
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    cost_micro_usd: int


@dataclass(frozen=True, slots=True)
class StartedTurn:
    run: Run
    message: ChatMessage
    """The customer's message as stored."""


class RunStore:
    def __init__(self, database: Database, *, stale_after: timedelta = timedelta(minutes=3)) -> None:
        self.database = database
        self.stale_after = stale_after
        """A run that holds its conversation longer than this was interrupted (its process died)."""

    # ---- conversations ------------------------------------------------------------------------------------

    async def create_conversation(self, customer_id: str) -> Conversation:
        conversation = Conversation(id=new_id("conv"), customer_id=customer_id, created_at=utcnow())
        async with self.database.session() as session:
            session.add(conversation)
            await session.commit()
        return conversation

    async def conversation_for(self, conversation_id: str, principal: Principal) -> Conversation:
        """The conversation if the principal may see it: its own customer, or staff. Otherwise not found."""
        async with self.database.session(readonly=True) as session:
            conversation = await session.get(Conversation, conversation_id)
        if conversation is None or not (principal.is_staff or conversation.customer_id == principal.id):
            raise NotFound("conversation not found")
        return conversation

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

    async def history(self, conversation_id: str, *, before_run: str) -> list[Message]:
        """The conversation as the model saw it, run after run, up to (not including) `before_run`, with what
        the support team and the customer said to each other outside runs (see `agent.handoffs`)."""
        async with self.database.session(readonly=True) as session:
            loose = await session.exec(
                select(ChatMessage)
                .where(ChatMessage.conversation_id == conversation_id, col(ChatMessage.run_id).is_(None))
                .order_by(col(ChatMessage.id))
            )
            outside_runs = list(loose.all())
        return with_staff_exchanges(await self.runs(conversation_id), outside_runs, before_run)

    # ---- a turn -------------------------------------------------------------------------------------------

    async def start_turn(self, conversation: Conversation, content: str, *, run_id: str | None = None) -> StartedTurn:
        """Store the customer's message and a running run, after claiming the conversation for it.

        The claim is one conditional update, so two messages racing on one conversation cannot both start a
        run; the loser gets `ConversationBusy` and nothing of its message is stored (the client is told to
        retry). A claim older than `stale_after` belongs to a run whose process died, and is taken over.
        The same update refuses while a person owns the conversation (`ConversationOwned`): once a hand-off's
        claim is committed, no model run can start in its conversation.
        """
        now = utcnow()
        run = Run(
            id=run_id or new_id("run"),
            conversation_id=conversation.id,
            customer_id=conversation.customer_id,
            status="running",
            started_at=now,
        )
        async with self.database.session() as session:
            claimed = await session.exec(
                update(Conversation)
                .where(
                    col(Conversation.id) == conversation.id,
                    col(Conversation.active_run_id).is_(None),
                    nobody_owns(conversation.id),
                )
                .values(active_run_id=run.id, active_since=now)
            )
            if claimed.rowcount != 1:
                await self._take_over_stale(session, conversation.id, run.id, now)
            message = ChatMessage(
                conversation_id=conversation.id,
                run_id=run.id,
                role="customer",
                content=clean_text(content),
                created_at=now,
            )
            session.add_all([run, message])
            await session.commit()
        return StartedTurn(run, message)

    async def _take_over_stale(self, session: AsyncSession, conversation_id: str, run_id: str, now: datetime) -> None:
        """Claim a conversation whose active run is older than `stale_after` (its process died) and mark that
        run interrupted; if the active run is fresh, the conversation is busy."""
        taken = await session.exec(
            update(Conversation)
            .where(
                col(Conversation.id) == conversation_id,
                col(Conversation.active_since) < now - self.stale_after,
                nobody_owns(conversation_id),
            )
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
            .values(status="failed", error="interrupted: the process answering it stopped", finished_at=now)
        )

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
    ) -> Run:
        """Close the run, store its steps, add its reply to the conversation, and release the conversation, in
        one transaction. `run` is updated in place and returned; nothing is read back."""
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
        }
        async with self.database.session() as session:
            await session.exec(update(Run).where(col(Run.id) == run.id).values(**values))
            if steps:
                for step in steps:
                    step["arguments"] = clean_json(step["arguments"])
                    step["result"] = clean_json(step["result"])
                await session.exec(_INSERT_STEP, params=steps)
            if status == "handed_off":
                await open_handoff(session, run, steps, now)
            if reply:
                await session.exec(
                    _INSERT_MESSAGE,
                    params=[
                        {
                            "conversation_id": run.conversation_id,
                            "run_id": run.id,
                            "role": "assistant",
                            "content": values["reply"],
                            "created_at": now,
                        }
                    ],
                )
            await session.exec(
                update(Conversation)
                .where(col(Conversation.id) == run.conversation_id, col(Conversation.active_run_id) == run.id)
                .values(active_run_id=None, active_since=None)
            )
            await session.commit()
        for name, value in values.items():
            setattr(run, name, value)
        return run

    async def get_run(self, run_id: str) -> Run:
        async with self.database.session(readonly=True) as session:
            run = await session.get(Run, run_id)
        if run is None:
            raise NotFound(f"run {run_id} not found")
        return run
