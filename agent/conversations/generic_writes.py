"""A turn's writes on any backend: each its own statement, in one transaction per start and per close, on the
direct path (`basics.driver_statements`). On SQLite a statement there is a function call of a few microseconds, so
several cost little; PostgreSQL's one-statement forms are `postgres_writes`'s, chosen by `RunStore` from the
database's dialect."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlmodel.ext.asyncio.session import AsyncSession

from agent.conversations import feed
from agent.conversations.admission import TAKE_ONE, Allowance
from agent.conversations.steps import StepRecord
from agent.conversations.tables import Approval, ChatMessage, Run
from agent.conversations.turns import CONVERSATIONS, ConversationSoFar, storing
from agent.held.handoffs import HandoffNote, open_handoff
from agent.held.status import RunStatus
from agent.models.base import Message
from agent.quality.run_flags import Flag
from basics.batched import Bound, insert_row, run_before, run_together
from basics.batched import run as run_bound
from basics.database import Database, Statements


class GenericWrites:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def create_conversation(self, allowance: Allowance, params: dict[str, Any], row: dict[str, Any]) -> None:
        """Take one from the customer's allowance of new conversations and store the conversation, or raise the
        allowance's refusal and store nothing."""

        async def create(statements: Statements) -> None:
            session = cast(AsyncSession, statements)  # or the direct path's transaction, which answers these calls
            if (await session.exec(TAKE_ONE, params=params)).first() is None:  # type: ignore[call-overload]
                raise await allowance.refusal(session, row["customer_id"], row["created_at"])
            await run_bound(session, insert_row(CONVERSATIONS, row, "conversation"))

        await self.database.write(create)

    async def start(
        self,
        session: AsyncSession,
        run: Run,
        store_run: Bound,
        message: ChatMessage,
        so_far: ConversationSoFar | None,
    ) -> list[Message] | None:
        """Store a turn's run and message and tell the feed, in `session`'s transaction (the claim already holds the
        conversation); sets the message's id. Returns the history when the writes read it (never here)."""
        await run_bound(session, store_run)
        message.id = (await run_bound(session, storing(message, "message"))).scalar_one()
        await feed.record(session, [feed.message_created(message), feed.run_started(run)])
        return None

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
        """Run a turn's closing `writes` (`release` among them), store the reply `message` and tell the feed (the
        run's end carries its `flags`), in one transaction; a hand-off the run asked for (or `handoff_note` says it
        went to) is opened in it: that close runs in a session, which `open_handoff` reads with."""

        async def close(statements: Statements) -> None:
            session = cast(AsyncSession, statements)  # or the direct path's transaction, which answers these calls
            closing = list(events)  # run again after a fall-back, it starts from the same events
            if message is not None:
                # The reply goes last, so its id (which its `message.created` event carries) comes back.
                stored = await run_before(session, writes, storing(message, "reply"))
                message.id = stored.scalar_one()
                closing.append(feed.message_created(message))
            else:
                await run_together(session, writes)
            if run.status == RunStatus.HANDED_OFF:
                handoff = await open_handoff(session, run, steps, _now(run), note=handoff_note)
                if handoff is not None:
                    closing.append(feed.handoff_moved(handoff, "handoff.queued", None, reason=handoff.reason))
            closing.append(feed.run_ended(run, held, flags))
            # The release above holds the conversation's row, whether or not this run still held its claim.
            await feed.record(session, closing, conversation_locked=True)

        await self.database.write(close, direct=run.status != RunStatus.HANDED_OFF)


def _now(run: Run) -> datetime:
    assert run.finished_at is not None
    return run.finished_at
