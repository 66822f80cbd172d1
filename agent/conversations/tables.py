"""What the agent keeps: conversations, their messages, runs (one per customer message), each run's steps,
pending approvals, the idempotency keys of chat requests, the daily spend counters, the live workers, and the
conversation feed's events."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from agent.held.status import HeldKind
from tools.store.tables import json_column, money_column, utc_column


def no_items() -> list[Any]:
    """An empty list, as a default factory. Not `list` itself: pydantic asks a factory for its signature on every
    construction, and for a builtin that means parsing its text signature (about 0.1 ms a run; 5 us for this)."""
    return []


def no_entries() -> dict[str, Any]:
    """An empty dict, as a default factory (see `no_items`)."""
    return {}


class Conversation(SQLModel, table=True):
    __tablename__ = "conversations"
    __table_args__ = (
        # A customer's conversations newest first (`RunStore.conversations_of`) read as a range of this index,
        # not sorted from all of them: a customer with years of conversations costs what a new one does.
        Index("ix_conversations_customer_created", "customer_id", "created_at", "id"),
    )

    id: str = Field(primary_key=True, max_length=40)
    customer_id: str = Field(max_length=80)
    created_at: datetime = Field(sa_column=utc_column())
    active_run_id: str | None = Field(default=None, max_length=40)
    """Set while a run answers a message; the conditional update that sets it admits one run at a time."""
    active_since: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class ChatMessage(SQLModel, table=True):
    """A message as the customer sees it: what they wrote, and each reply."""

    __tablename__ = "messages"
    __table_args__ = (Index("ix_messages_conversation", "conversation_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: str = Field(foreign_key="conversations.id", max_length=40)
    run_id: str | None = Field(default=None, max_length=40)
    role: str = Field(max_length=20)
    """`customer`, `assistant`, or `agent` (a person of the support team, named by `author_id`)."""
    content: str
    author_id: str | None = Field(default=None, max_length=200)
    """The staff member who wrote an `agent` message."""
    created_at: datetime = Field(sa_column=utc_column())


class Run(SQLModel, table=True):
    """The service's answer to one customer message: model calls and tool calls until a reply (or a pause)."""

    __tablename__ = "runs"
    __table_args__ = (
        Index("ix_runs_conversation", "conversation_id", "started_at"),
        Index("ix_runs_customer_started", "customer_id", "started_at"),  # chat rate limit, daily spend
        Index("ix_runs_started", "started_at"),
        Index("ix_runs_status_worker", "status", "worker_id"),  # recovering the runs of a stopped process
    )

    id: str = Field(primary_key=True, max_length=40)
    conversation_id: str = Field(foreign_key="conversations.id", max_length=40)
    customer_id: str = Field(max_length=80)
    status: str = Field(max_length=30)
    """`running | completed | awaiting_confirmation | awaiting_approval | handed_off | budget_exhausted | failed`"""
    reply: str | None = None
    model_provider: str = Field(default="", max_length=40)
    model_name: str = Field(default="", max_length=100)
    started_at: datetime = Field(sa_column=utc_column())
    finished_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    model_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_micro_usd: int = Field(default=0, sa_column=money_column())
    """Cost in millionths of a US dollar, exact."""
    budget_exhausted: str | None = Field(default=None, max_length=30)
    """Which budget ran out, when one did: `model_calls | wall_clock | tokens | cost`."""
    error: str | None = None
    trace_id: str | None = Field(default=None, max_length=32)
    transcript: list[dict[str, Any]] = Field(default_factory=no_items, sa_column=json_column())
    """The model-level messages this run added (the customer message, tool calls, tool results, replies)."""
    resumed_from: str | None = Field(default=None, max_length=40)
    worker_id: str | None = Field(default=None, max_length=40)
    """The process answering the run while it is `running`; when that process is gone, the run is recovered."""
    reserved_micro_usd: int = Field(default=0, sa_column=money_column())
    """Model spend reserved against the daily budgets when the run was admitted; settled when it ends."""
    kb_version: str | None = Field(default=None, max_length=64)
    """The help centre's version the run's searches read; None when the run did not consult it."""
    fallback_reason: str | None = Field(default=None, max_length=300)
    """Why a later model of the fallback chain gave the run's answer (`model_*`) instead of the first: what the
    models before it did. None when the first model answered."""
    route: str | None = Field(default=None, max_length=16)
    """The model route the run started on, `simple` or `default` (`agent.routing.routes`); None for runs from before."""
    route_reason: str | None = Field(default=None, max_length=40)
    """Why the router chose it (`agent.routing.router.Reason`), e.g. `read_only_lookup`, `asks_for_a_change`."""
    route_escalation: str | None = Field(default=None, max_length=300)
    """Why the run moved from the simple route to the default one, when it did: what the simple model proposed,
    or how it failed."""
    prompt_version: str | None = Field(default=None, max_length=32)
    """The prompt version the run was answered with (`agent.routing.prompt_versions`), e.g. `v1`."""
    prompt_id: str | None = Field(default=None, max_length=16)
    """That version's id: a hash of the system prompt and tool definitions the model was shown."""


class Step(SQLModel, table=True):
    """One model call or one tool call of a run, in order."""

    __tablename__ = "steps"
    __table_args__ = (UniqueConstraint("run_id", "position"),)

    id: int | None = Field(default=None, primary_key=True)
    run_id: str = Field(foreign_key="runs.id", max_length=40, index=True)
    position: int
    kind: str = Field(max_length=10)
    """`model` or `tool`."""
    created_at: datetime = Field(sa_column=utc_column())
    latency_ms: float = 0.0
    # model calls
    provider: str | None = Field(default=None, max_length=40)
    model: str | None = Field(default=None, max_length=100)
    stop_reason: str | None = Field(default=None, max_length=40)
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_micro_usd: int = Field(default=0, sa_column=money_column())
    # tool calls
    tool: str | None = Field(default=None, max_length=200)
    tool_use_id: str | None = Field(default=None, max_length=200)
    arguments: Any = Field(default=None, sa_column=json_column(nullable=True))
    decision: str | None = Field(default=None, max_length=20)
    rule: str | None = Field(default=None, max_length=100)
    result: Any = Field(default=None, sa_column=json_column(nullable=True))
    is_error: bool = False
    passages: Any = Field(default=None, sa_column=json_column(nullable=True))
    """Help-centre passages a search step returned: `[{id, article_id, score}]`, what the answer rests on."""


class IdempotentRequest(SQLModel, table=True):
    """A chat request sent with an `Idempotency-Key`: its first response is replayed for every retry."""

    __tablename__ = "idempotent_requests"
    __table_args__ = (UniqueConstraint("customer_id", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    customer_id: str = Field(max_length=80)
    key: str = Field(max_length=200)
    conversation_id: str = Field(max_length=40)
    request_hash: str = Field(max_length=64)
    response: dict[str, Any] | None = Field(default=None, sa_column=json_column(nullable=True))
    created_at: datetime = Field(sa_column=utc_column())
    run_id: str | None = Field(default=None, max_length=40, index=True)
    """The run answering the request: if it dies unanswered, the key is released so a retry is answered."""


class Approval(SQLModel, table=True):
    """A tool call held for a human decision, with everything needed to resume its run in any process."""

    __tablename__ = "approvals"
    __table_args__ = (
        Index("ix_approvals_status_created", "status", "created_at"),
        # The sweep's pending calls past their expiry: the pending ones only, not every approval ever expired.
        Index("ix_approvals_status_expires", "status", "expires_at"),
    )

    id: str = Field(primary_key=True, max_length=40)
    kind: str = Field(
        default=HeldKind.APPROVAL, max_length=20, sa_column_kwargs={"server_default": HeldKind.APPROVAL.value}
    )
    """Who decides the held call: `approval` (a support agent or supervisor) or `confirmation` (the customer,
    before any write runs). One concept, one table, one set of transitions: see `agent.held.confirmations`."""
    status: str = Field(max_length=20)
    """`pending`, then `approved | rejected | expired`; an approved call then becomes `executed` (it ran) or
    `failed` (the store refused it when it ran, e.g. the order changed meanwhile). A confirmation is `approved`
    when the customer confirms, `rejected` when they decline, and `withdrawn` when they write a new message
    instead (that message's run answers; nothing resumes)."""
    summary: str | None = None
    """The action in plain words, built by the tool from the store data (never from the model's text)."""
    tool: str = Field(max_length=60)
    tool_use_id: str = Field(max_length=200)
    idempotency_key: str | None = Field(default=None, max_length=200)
    """The key the service derived for the held call; the approved action runs under it, once."""
    arguments: dict[str, Any] = Field(sa_column=json_column())
    arguments_hash: str = Field(max_length=64)
    amount_cents: int = Field(default=0, sa_column=money_column())
    rule: str = Field(max_length=100)
    reason: str
    customer_message: str = ""
    approver_role: str = Field(max_length=20)
    policy_version: str = Field(max_length=60)
    conversation_id: str = Field(foreign_key="conversations.id", max_length=40, index=True)
    customer_id: str = Field(max_length=80, index=True)
    run_id: str = Field(foreign_key="runs.id", max_length=40, index=True)
    """Indexed: a run read back looks for the call it paused on (`held_call_of`)."""
    trace_context: dict[str, str] = Field(default_factory=no_entries, sa_column=json_column())
    state: dict[str, Any] = Field(default_factory=no_entries, sa_column=json_column())
    """The paused run: conversation messages, results gathered so far, calls still queued."""
    created_at: datetime = Field(sa_column=utc_column())
    expires_at: datetime = Field(sa_column=utc_column())
    decided_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    decided_by: str | None = Field(default=None, max_length=200)
    decided_role: str | None = Field(default=None, max_length=20)
    note: str | None = None
    executed_arguments: dict[str, Any] | None = Field(default=None, sa_column=json_column(nullable=True))
    executed_hash: str | None = Field(default=None, max_length=64)
    executed_amount_cents: int | None = Field(default=None, sa_column=money_column(nullable=True))
    """The amount the policy computed for the executed arguments; the tool must plan exactly this amount."""
    result: dict[str, Any] | None = Field(default=None, sa_column=json_column(nullable=True))
    resumed_run_id: str | None = Field(default=None, max_length=40, index=True)
    """Indexed: recovery looks up the approval a run resumed, and the desk's housekeeping the decided ones that
    were never resumed (null), which are few however many approvals the store has decided."""


class SpendDay(SQLModel, table=True):
    """Model spend of one scope (`store`, or `customer:<id>`) on one UTC day, in millionths of a dollar.

    Runs reserve against it before calling a model and settle their actual cost when they end, each with one
    conditional upsert, so concurrent runs cannot together pass a budget by more than one run's reservation."""

    __tablename__ = "spend_days"

    scope: str = Field(primary_key=True, max_length=120)
    day: date = Field(primary_key=True)
    used_micro_usd: int = Field(default=0, sa_column=money_column())


class ChatAllowance(SQLModel, table=True):
    """A customer's chat rate limit as a token bucket: `tokens` messages may be sent now, and the bucket refills
    at the limit's rate since `refilled_at` (seconds since the epoch). One conditional upsert takes a token, so
    the check reads one indexed row however many messages the customer sent before (see
    `agent.conversations.admission`)."""

    __tablename__ = "chat_allowances"

    scope: str = Field(primary_key=True, max_length=120)
    tokens: float
    refilled_at: float


class Worker(SQLModel, table=True):
    """A live service process. It renews `heartbeat_at` while it runs; runs owned by a worker whose heartbeat
    has stopped (or whose process is gone from this host) are recovered by the other processes."""

    __tablename__ = "workers"

    id: str = Field(primary_key=True, max_length=40)
    hostname: str = Field(max_length=255)
    pid: int
    started_at: datetime = Field(sa_column=utc_column())
    heartbeat_at: datetime = Field(sa_column=utc_column())


class Handoff(SQLModel, table=True):
    """A conversation handed to the support team: queued, then claimed by one person, then closed.

    Claiming is one conditional update on `status`, so of two staff claiming at once one wins."""

    __tablename__ = "handoffs"
    __table_args__ = (Index("ix_handoffs_status_created", "status", "created_at"),)

    id: str = Field(primary_key=True, max_length=40)
    conversation_id: str = Field(foreign_key="conversations.id", max_length=40, index=True)
    customer_id: str = Field(max_length=80)
    status: str = Field(max_length=20)
    """`queued | claimed | closed`."""
    reason: str = Field(max_length=40)
    """Why it reached a person: `transfer_requested` (the assistant handed over) or `approval_expired`."""
    summary: str
    run_id: str | None = Field(default=None, max_length=40)
    created_at: datetime = Field(sa_column=utc_column())
    claimed_by: str | None = Field(default=None, max_length=200)
    claimed_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    closed_by: str | None = Field(default=None, max_length=200)
    closed_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    outcome: str | None = Field(default=None, max_length=20)
    """How it closed: `bot` (the assistant answers again) or `resolved`."""


class ConversationEvent(SQLModel, table=True):
    """Something that happened in a conversation, whoever caused it, in order: the rows the conversation feed
    (`GET /v1/conversations/{id}/events`) sends, each with its `id` as the SSE event id. Written in the same
    transaction as the change it describes (see `agent.conversations.feed`), so the feed never shows what did not
    happen and
    never misses what did; read from the database, so every replica serves the same feed."""

    __tablename__ = "conversation_events"
    __table_args__ = (Index("ix_conversation_events_conversation", "conversation_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: str = Field(foreign_key="conversations.id", max_length=40)
    kind: str = Field(max_length=40)
    """The event's name, e.g. `message.created`, `approval.decided`: see docs/feed.md for the vocabulary."""
    data: dict[str, Any] = Field(sa_column=json_column())
    run_id: str | None = Field(default=None, max_length=40)
    created_at: datetime = Field(sa_column=utc_column())


class RunFlag(SQLModel, table=True):
    """One thing about a run that a reviewer should look at (`agent.quality.flags.FlagKind`): an ungrounded fact
    in its reply, a fallback model's answer, a refusal, a failure, a customer's thumbs-down. The review queue and
    the store's figures read these rows."""

    __tablename__ = "run_flags"
    __table_args__ = (
        Index("ix_run_flags_run", "run_id"),
        Index("ix_run_flags_kind_created", "kind", "created_at"),
        Index("ix_run_flags_created", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    run_id: str = Field(foreign_key="runs.id", max_length=40)
    conversation_id: str = Field(foreign_key="conversations.id", max_length=40)
    kind: str = Field(max_length=40)
    """A `FlagKind` value."""
    value: str = Field(default="", max_length=300)
    """What was flagged, as the reply or the run stated it: `$412.00`, `#W1234567`, the fallback's reason."""
    created_at: datetime = Field(sa_column=utc_column())


class Feedback(SQLModel, table=True):
    """A customer's verdict on one answer ("Was this helpful?"): at most one per run, with what produced the
    answer (model, route, prompt version) so verdicts can be compared across versions."""

    __tablename__ = "feedback"
    __table_args__ = (
        UniqueConstraint("run_id", name="uq_feedback_run"),
        Index("ix_feedback_created", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    run_id: str = Field(foreign_key="runs.id", max_length=40)
    conversation_id: str = Field(foreign_key="conversations.id", max_length=40, index=True)
    customer_id: str = Field(max_length=80)
    helpful: bool
    comment: str | None = Field(default=None, max_length=1000)
    model_name: str = Field(default="", max_length=100)
    route: str | None = Field(default=None, max_length=16)
    prompt_version: str | None = Field(default=None, max_length=32)
    created_at: datetime = Field(sa_column=utc_column())


class DeskLinkUse(SQLModel, table=True):
    """A one-time desk sign-in link that has been used: its `jti` may never sign anyone in again."""

    __tablename__ = "desk_link_uses"

    jti: str = Field(primary_key=True, max_length=64)
    staff_id: str = Field(max_length=200)
    used_at: datetime = Field(sa_column=utc_column())


class DeskSessionRecord(SQLModel, table=True):
    """A signed-in desk session. The cookie proves who opened it (it is signed); this row says it is still open,
    so signing out ends it on every replica at once, and it can never outlive its `expires_at`."""

    __tablename__ = "desk_sessions"

    id: str = Field(primary_key=True, max_length=64)
    """SHA-256 of the session id the cookie carries: the table alone cannot be turned into cookies."""
    staff_id: str = Field(max_length=200)
    role: str = Field(max_length=20)
    created_at: datetime = Field(sa_column=utc_column())
    expires_at: datetime = Field(sa_column=utc_column(index=True))
    """The shorter of the desk's own limit and the expiry of the staff token it was opened with."""
    ended_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    """When its owner signed out; an ended session is refused everywhere."""
