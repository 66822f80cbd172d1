"""How stored records look to clients: the message, run and confirmation-card objects. API responses carry them
(`api.schemas` re-exports them for the routes' declared response models) and so do the conversation feed's events
(`agent.conversations.feed`): one typed definition, so a widget reads the same shape wherever a record reaches it.
Every text a
person reads from them is `visible` (no bidi overrides or invisible characters), whoever wrote it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from agent.conversations.tables import Approval, ChatMessage, Run
from agent.held.status import ApprovalStatus, HeldKind, RunStatusName
from agent.limits.pricing import micro_to_usd
from agent.quality.flags import FlagKind
from agent.quality.run_flags import Flag
from tools.store.money import to_dollars
from tools.store.sanitize import visible, visible_json


class Shape(BaseModel):
    """A body a client reads. The docstring under each field is its description in `/openapi.json`, so the spec
    a front-end team reads and the code say the same thing in one place."""

    model_config = ConfigDict(use_attribute_docstrings=True)


class MessageOut(Shape):
    id: int | None = None
    """Increasing within a conversation: the order messages were stored in."""
    role: str
    """`customer`, `assistant`, or `agent` (a person of the support team, named by `author_id`)."""
    content: str
    created_at: datetime
    author_id: str | None = None
    """The staff id of the person who wrote an `agent` message."""
    run_id: str | None = None
    """The run it belongs to: the run a customer's message started, or the run whose reply this is. None for a
    staff member's message (and for a customer's message to a person who owns the conversation)."""


class PendingActionOut(Shape):
    """An action the run holds for a person of the support team to approve."""

    approval_id: str
    status: str
    """`pending` while it waits; then `approved`, `rejected`, `expired`, `executed` or `failed`."""
    tool: str
    arguments: dict[str, Any]
    amount: float
    """The money the action moves, in dollars."""
    approver_role: str
    """The least senior role that may decide it: `agent` or `supervisor`."""
    expires_at: datetime


class PendingConfirmationOut(Shape):
    """A change to the customer's orders or account that waits for the customer's own Confirm or Decline."""

    id: str
    """Answer it at `POST /v1/conversations/{id}/confirmations/{this id}`."""
    tool: str
    arguments: dict[str, Any]
    summary: str
    """What will happen, built from the store's data and naming things as the customer knows them, e.g. "cancel
    order #W6247578: 1 item, $53.27 back to Mastercard ending 2478". Show this to the customer, not the model's
    words."""
    expires_at: datetime
    """After this the confirmation can no longer be answered, and nothing is changed."""


class ModelOut(Shape):
    provider: str
    """`anthropic`, `offline`, or `scripted` in tests."""
    name: str


class UsageOut(Shape):
    model_calls: int
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    cost_usd: float


class RunFlagOut(Shape):
    """Something about the run a reviewer should look at (`agent.quality`)."""

    kind: FlagKind
    """`ungrounded_order`, `ungrounded_amount`, `ungrounded_tracking`, `ungrounded_date`, `ungrounded_item`,
    `ungrounded_payment`, `ungrounded_policy` (the reply states something nothing in the run shows), `fallback`,
    `provider_refusal`, `budget_exhausted`, `failed` or `thumbs_down`."""
    value: str
    """What was flagged: the fact as the reply stated it, the fallback's reason, the budget, the customer's
    comment. Empty for an ungrounded fact of a reply that was held back, which nobody outside the team reads."""


class RunOut(Shape):
    """The service's answer to one customer message: the reply, or why there is none yet."""

    id: str
    status: RunStatusName
    reply: str | None
    """What the customer reads. None while the run is still `running`."""
    pending_action: PendingActionOut | None
    """The approval the run paused on (`awaiting_approval`), with its status: `pending` while a person of the
    support team has not decided it yet. Every answer, read and feed event that carries the run carries it."""
    pending_confirmation: PendingConfirmationOut | None
    """The card the run waits on (`awaiting_confirmation`), while the customer can still answer it. A run's
    `status` stays how it ended: once the card is answered, withdrawn by a new message or expired, this is null
    and the conversation's `held_calls` say how it ended."""
    trace_id: str | None
    """The run's OpenTelemetry trace, for a reviewer."""
    model: ModelOut
    usage: UsageOut
    budget_exhausted: str | None
    """Which budget ran out, when one did: `model_calls`, `wall_clock`, `tokens` or `cost`."""
    started_at: datetime
    finished_at: datetime | None
    resumed_from: str | None
    """The run this one continues after a decision (an approval or a confirmation)."""
    kb_version: str | None
    """The help centre's version the run's searches read; None when it did not search."""
    fallback_reason: str | None = None
    """Set when the answer did not come from the configured model but from a fallback (the `model` named here),
    and says why: e.g. the configured model refused the request, asked to be retried too late, or was down."""
    route: str | None = None
    """The model route the run started on: `simple` (a cheaper model, for lookups and help-centre questions) or
    `default`. None for runs stored before routes were recorded."""
    route_reason: str | None = None
    """Why the router chose that route, as a code: e.g. `read_only_lookup`, `help_centre_question`,
    `asks_for_a_change`, `several_requests`, `open_held_call`, `unclear`, `routing_off`."""
    route_escalation: str | None = None
    """Set when the run started on `simple` and moved to `default`: why (what the simple model proposed, or how
    it failed). The `model` named here is then the default route's."""
    prompt_version: str | None = None
    """The prompt version the run was answered with, e.g. `v1`."""
    prompt_id: str | None = None
    """That version's id: a hash of the system prompt and tool definitions the model was shown."""
    flags: list[RunFlagOut] = []
    """Why the run is in the review queue, if it is: oldest first."""


def message_view(message: ChatMessage) -> MessageOut:
    return MessageOut(
        id=message.id,
        role=message.role,
        content=visible(message.content),
        created_at=message.created_at,
        author_id=message.author_id,
        run_id=message.run_id,
    )


def pending_action_view(approval: Approval | None) -> PendingActionOut | None:
    if approval is None or approval.kind != HeldKind.APPROVAL:
        return None
    return PendingActionOut(
        approval_id=approval.id,
        status=approval.status,
        tool=approval.tool,
        arguments=visible_json(approval.arguments),
        amount=to_dollars(approval.amount_cents),
        approver_role=approval.approver_role,
        expires_at=approval.expires_at,
    )


def confirmation_card(confirmation: Approval) -> PendingConfirmationOut:
    """A confirmation as the customer's widget shows it: what will happen, in the store's own words. The same
    card in the JSON answer, the per-message stream and the feed."""
    return PendingConfirmationOut(
        id=confirmation.id,
        tool=confirmation.tool,
        arguments=visible_json(confirmation.arguments),
        summary=visible(confirmation.summary or ""),
        expires_at=confirmation.expires_at,
    )


def pending_confirmation_view(held: Approval | None) -> PendingConfirmationOut | None:
    """The confirmation a run waits for, while the customer can still answer it."""
    if held is None or held.kind != HeldKind.CONFIRMATION or held.status != ApprovalStatus.PENDING:
        return None
    return confirmation_card(held)


@dataclass(frozen=True, slots=True)
class HeldRun:
    """A run with the call it paused on: the only thing a run's client view is built from, so no answer, read or
    feed event can show a run without the card or approval it waits on. The loop makes one when a run ends (it
    knows what it held), `ApprovalStore.held_run` and `held_runs` when a run is read back."""

    run: Run
    held: Approval | None
    """The call the run paused on, as stored when it was read; None if the run did not pause."""
    flags: tuple[Flag, ...] = ()
    """The run's flags, when they are known where the view is made (the run's end, a conversation's read)."""


def held_runs(
    runs: Iterable[Run], held_calls: Iterable[Approval], flags: Iterable[tuple[str, Flag]] = ()
) -> list[HeldRun]:
    """Runs paired with the calls they paused on and their flags (`(run_id, flag)`), from a conversation's runs,
    held calls and flags read together."""
    by_run = {held.run_id: held for held in held_calls}
    flags_of: dict[str, list[Flag]] = {}
    for run_id, flag in flags:
        flags_of.setdefault(run_id, []).append(flag)
    return [HeldRun(run, by_run.get(run.id), tuple(flags_of.get(run.id, ()))) for run in runs]


def flag_view(run: Run, flag: Flag) -> RunFlagOut:
    """A flag as anyone who can read the run sees it. An ungrounded fact is shown only when it is in the reply
    the customer read: a held reply's facts stay with the team."""
    shown = flag.value
    if flag.kind.ungrounded and (not run.reply or flag.value not in run.reply):
        shown = ""
    return RunFlagOut(kind=flag.kind, value=visible(shown))


def run_view(answered: HeldRun) -> RunOut:
    """The run as a client sees it, with the call it waits on while that call is open: the one builder of
    `RunOut` for every route and feed event."""
    run, held = answered.run, answered.held
    assert held is None or held.run_id == run.id, f"held call {held.id} is not run {run.id}'s"
    return RunOut(
        id=run.id,
        status=run.status,  # a stored string; pydantic checks it is one of the known statuses
        reply=visible(run.reply) if run.reply is not None else None,
        pending_action=pending_action_view(held),
        pending_confirmation=pending_confirmation_view(held),
        trace_id=run.trace_id,
        model=ModelOut(provider=run.model_provider, name=run.model_name),
        usage=UsageOut(
            model_calls=run.model_calls,
            input_tokens=run.input_tokens,
            output_tokens=run.output_tokens,
            cache_read_tokens=run.cache_read_tokens,
            cache_write_tokens=run.cache_write_tokens,
            cost_usd=micro_to_usd(run.cost_micro_usd),
        ),
        budget_exhausted=run.budget_exhausted,
        started_at=run.started_at,
        finished_at=run.finished_at,
        resumed_from=run.resumed_from,
        kb_version=run.kb_version,
        fallback_reason=run.fallback_reason,
        route=run.route,
        route_reason=run.route_reason,
        route_escalation=run.route_escalation,
        prompt_version=run.prompt_version,
        prompt_id=run.prompt_id,
        flags=[flag_view(run, flag) for flag in answered.flags],
    )
