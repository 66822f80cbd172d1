"""The customer's verdict on an answer ("Was this helpful?"): stored once per answer with what produced it (the
model, the route, the prompt version), told to the conversation feed, and, when the answer did not help, a
`thumbs_down` flag on its run for the review queue. All in one transaction.

Once per answer is the unique constraint's to keep (`uq_feedback_run`): of two verdicts sent at once, one is
stored and the other is told it came second, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError

from agent.conversations import feed
from agent.conversations.tables import Conversation, Feedback, Run, RunFlag
from agent.errors import FeedbackConflict
from agent.quality.flags import FlagKind
from agent.quality.run_flags import Flag, flag_rows
from basics.clock import utcnow
from basics.database import Database
from tools.errors import NotFound
from tools.store.sanitize import clean_text


@dataclass(frozen=True, slots=True)
class Verdict:
    run_id: str
    helpful: bool
    comment: str | None


class FeedbackStore:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def give(self, conversation: Conversation, verdict: Verdict) -> tuple[Feedback, Run]:
        """Store the verdict of `conversation`'s customer on one of its answers. `NotFound` when the run is not
        the conversation's; `FeedbackConflict` when it has no reply yet or already has a verdict."""
        comment = clean_text(verdict.comment.strip()) if verdict.comment and verdict.comment.strip() else None
        now = utcnow()
        async with self.database.session() as session:
            run = await session.get(Run, verdict.run_id)
            if run is None or run.conversation_id != conversation.id:
                raise NotFound("no answer with that id in this conversation")
            if not run.reply:
                raise FeedbackConflict("no_reply", "that answer has no reply yet; give your verdict once it does")
            given = Feedback(
                run_id=run.id,
                conversation_id=conversation.id,
                customer_id=conversation.customer_id,
                helpful=verdict.helpful,
                comment=comment,
                model_name=run.model_name,
                route=run.route,
                prompt_version=run.prompt_version,
                created_at=now,
            )
            try:
                # The conversation's row first, as every writer of its feed takes it (`feed.record`): two verdicts
                # sent at once meet there, and the second then meets the unique constraint.
                await feed.record(session, [feed.feedback_given(given)])
                session.add(given)
                if not verdict.helpful:
                    (row,) = flag_rows(run.id, conversation.id, [Flag.of(FlagKind.THUMBS_DOWN, comment)], now)
                    session.add(RunFlag(**row))
                await session.commit()
            except IntegrityError:
                await session.rollback()
                raise FeedbackConflict("feedback_exists", "that answer already has your verdict") from None
            await session.refresh(given)
        return given, run
