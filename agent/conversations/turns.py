"""What storing a turn exchanges, whichever the backend: the shapes the store returns and the loop reads, and the
statements both write paths share (`generic_writes`, `postgres_writes`)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from sqlalchemy import String, Table, Update, bindparam, case, select, update
from sqlmodel import col

from agent.conversations.tables import ChatMessage, Conversation, IdempotentRequest, Run, RunFlag
from agent.models.base import Message
from basics.batched import Bound, insert_row
from basics.driver_statements import NotDirect


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
    and the prompt version (`agent.routing.routes`, `agent.routing.prompt_versions`)."""

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
    """Messages written outside runs (a hand-off's exchanges): see `agent.held.handoffs.with_staff_exchanges`."""
    open_confirmations: bool
    open_approvals: bool = False
    """An action of the conversation waits for a person of the support team: the turn is about it, likely."""

    @property
    def open_held_call(self) -> bool:
        """A confirmation card or an approval of the conversation is still open (`agent.routing.router`)."""
        return self.open_confirmations or self.open_approvals


@dataclass(frozen=True, slots=True)
class Resumed:
    """A run stored to answer a decision, or to take over from a dead run, holding its conversation."""

    run: Run
    spent_budget: str | None
    """A daily budget that is used up: the run is answered without calling the model."""


@dataclass(frozen=True, slots=True)
class KnownAtStart:
    """What the statements that started a run found, handed to the loop (`AgentLoop.answer`) so the turn does not
    read it again. How much is known depends on the backend: PostgreSQL's one statement also reads the history
    (`agent.conversations.postgres_writes`); elsewhere `history` is None and the loop reads it."""

    spent_budget: str | None = None
    """A daily budget that is used up: the run is answered without calling the model."""
    so_far: ConversationSoFar | None = None
    """What the claim saw of the conversation; None when nothing is known and everything is read."""
    history: list[Message] | None = None
    """The conversation so far as the model sees it, when the start read it."""


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

    @property
    def known(self) -> KnownAtStart:
        return KnownAtStart(self.spent_budget, self.so_far, self.history)


def storing(message: ChatMessage, prefix: str) -> Bound:
    """The insert of a new message, returning its id."""
    return insert_row(MESSAGES, message.model_dump(exclude={"id"}), prefix, returning="id")


CONVERSATIONS: Table = Conversation.__table__  # type: ignore[attr-defined]

RUNS: Table = Run.__table__  # type: ignore[attr-defined]
FLAGS: Table = RunFlag.__table__  # type: ignore[attr-defined]
MESSAGES: Table = ChatMessage.__table__  # type: ignore[attr-defined]


TRANSCRIPTS = (
    select(RUNS.c.id, RUNS.c.started_at, RUNS.c.transcript)
    .where(RUNS.c.conversation_id == bindparam("transcripts_conversation_id", type_=String()))
    .order_by(RUNS.c.started_at)
)
"""A conversation's runs, oldest first, as the model's history reads them (`RunStore.history`)."""


@lru_cache(maxsize=8)
def closing_run(names: tuple[str, ...]) -> Update:
    """The update that closes a run, setting the columns `names` from the parameters `close_{name}`."""
    values = {name: bindparam(f"close_{name}", type_=RUNS.c[name].type) for name in names}
    return update(Run).where(col(Run.id) == bindparam("close_run_id", type_=String())).values(**values)


STILL_HELD = col(Conversation.active_run_id) == bindparam("release_run_id", type_=String())
RELEASE = (
    update(Conversation)
    .where(col(Conversation.id) == bindparam("release_conversation_id", type_=String()))
    .values(
        active_run_id=case((STILL_HELD, None), else_=col(Conversation.active_run_id)),
        active_since=case((STILL_HELD, None), else_=col(Conversation.active_since)),
    )
    .returning(col(Conversation.id))
)
"""A run gives its conversation back if it still holds it. Either way the update takes the conversation's row
and returns its id, so the close's feed events, gated on it, always come after the row lock that orders the feed
(a run whose claim was taken over gives nothing back, but the feed still hears how it ended)."""


BIND_IDEMPOTENT_RUN = (
    update(IdempotentRequest)
    .where(
        col(IdempotentRequest.customer_id) == bindparam("idempotent_customer"),
        col(IdempotentRequest.key) == bindparam("idempotent_key"),
    )
    .values(run_id=bindparam("idempotent_run"))
)
"""A retried request's record, bound to the run its first try started (built once, run with its values)."""


class TakeOverFirst(NotDirect):
    """The conversation's claim is held by a run to take over from: `start_turn` does that in a session (the
    take-over reads the runs as the session's objects), so the direct path's transaction rolls back first."""
