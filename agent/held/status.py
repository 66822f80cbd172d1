"""Every status the service stores, as enums, with the moves between them and the words clients read.

The rows keep plain strings (the columns and the JSON are unchanged); the code names a status only through these
enums (`RunStatus.COMPLETED`, never `"completed"`), and tests/architecture/test_statuses.py refuses a status
written as a string literal anywhere else. The `...Name` literals are the same values for the response shapes,
whose OpenAPI document lists them inline.

A held call is one concept with two kinds (`HeldKind`): a customer's confirmation or a person's approval. Both
move through `ApprovalStatus`; a customer's confirm and decline are stored as `approved` and `rejected`, and the
words each audience reads for them are mapped here, once (`stored_answer`, `decision_words`, `feed_answer`).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal


class RunStatus(StrEnum):
    """How a run stands: running, or how it ended (a pause for a held call is an end; a new run resumes)."""

    RUNNING = "running"
    COMPLETED = "completed"
    AWAITING_CONFIRMATION = "awaiting_confirmation"
    AWAITING_APPROVAL = "awaiting_approval"
    HANDED_OFF = "handed_off"
    BUDGET_EXHAUSTED = "budget_exhausted"
    FAILED = "failed"


ENDED = frozenset(RunStatus) - {RunStatus.RUNNING}
"""The statuses a run is closed with (`RunStore.finish_turn`)."""
PAUSED = frozenset({RunStatus.AWAITING_CONFIRMATION, RunStatus.AWAITING_APPROVAL})
"""Ended on a held call: a decision on it resumes the conversation in a new run."""

RunStatusName = Literal[
    "running",
    "completed",
    "awaiting_confirmation",
    "awaiting_approval",
    "handed_off",
    "budget_exhausted",
    "failed",
]


class HeldKind(StrEnum):
    """Who decides a held call: a person of the support team, or the customer before any write runs."""

    APPROVAL = "approval"
    CONFIRMATION = "confirmation"


HeldKindName = Literal["confirmation", "approval"]


class ApprovalStatus(StrEnum):
    """A held call, of either kind: `pending`, then decided (`approved | rejected`), or `expired` undecided, or
    (a confirmation) `withdrawn` by a new message, or `escalated` to a person; an approved call then `executed`
    (it ran) or `failed` (the store refused it when it ran, e.g. the order changed meanwhile)."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"
    EXECUTED = "executed"
    FAILED = "failed"
    WITHDRAWN = "withdrawn"
    ESCALATED = "escalated"


MOVES: dict[ApprovalStatus, frozenset[ApprovalStatus]] = {
    ApprovalStatus.PENDING: frozenset(
        {
            ApprovalStatus.APPROVED,
            ApprovalStatus.REJECTED,
            ApprovalStatus.EXPIRED,
            ApprovalStatus.WITHDRAWN,
            ApprovalStatus.ESCALATED,
        }
    ),
    ApprovalStatus.ESCALATED: frozenset({ApprovalStatus.APPROVED, ApprovalStatus.REJECTED, ApprovalStatus.EXPIRED}),
    ApprovalStatus.APPROVED: frozenset({ApprovalStatus.EXECUTED, ApprovalStatus.FAILED}),
    ApprovalStatus.REJECTED: frozenset(),
    ApprovalStatus.EXPIRED: frozenset(),
    ApprovalStatus.EXECUTED: frozenset(),
    ApprovalStatus.FAILED: frozenset(),
    ApprovalStatus.WITHDRAWN: frozenset(),
}
"""The moves a held call may make; every other is refused by the conditional updates that make them."""

UNDECIDED = (ApprovalStatus.PENDING,)
"""What a decision (approve, reject, expire, withdraw) may move a held call from."""

ApprovalFilterName = Literal["pending", "approved", "rejected", "expired", "executed", "failed"]
"""The statuses the desk's approval list filters on."""


class HandoffStatus(StrEnum):
    """A conversation handed to the support team: queued, then claimed by one person, then closed."""

    QUEUED = "queued"
    CLAIMED = "claimed"
    CLOSED = "closed"


OPEN_HANDOFF: tuple[HandoffStatus, ...] = (HandoffStatus.QUEUED, HandoffStatus.CLAIMED)
"""Still with the team: queued or claimed."""
ANY_OPEN: Literal["open"] = "open"
"""The hand-off filter's word for either open status."""
HandoffFilterName = Literal["open", "queued", "claimed", "closed"]


# ---- a customer's confirmation: their words, as stored, and as told back -----------------------------------------

Answer = Literal["confirm", "decline"]
"""A customer's answer to a confirmation card."""
CONFIRM: Answer = "confirm"
DECLINE: Answer = "decline"
CONFIRMED = "confirmed"
DECLINED = "declined"

_STORED = {CONFIRM: ApprovalStatus.APPROVED, DECLINE: ApprovalStatus.REJECTED}


def stored_answer(answer: Answer) -> ApprovalStatus:
    """A customer's answer as the held call stores it: confirm is `approved`, decline `rejected`."""
    return _STORED[answer]


def spoken_answer(answer: Answer) -> str:
    """A customer's answer as traces and the audit log say it: `confirmed` or `declined`."""
    return CONFIRMED if answer == CONFIRM else DECLINED


def decision_words(kind: str, status: str) -> str:
    """What was decided on a held call, whatever became of the action afterwards: `approved | rejected | expired`
    for an approval, `confirmed | declined | expired` for a customer's confirmation (a withdrawn card was
    declined: the customer wrote instead)."""
    if kind == HeldKind.CONFIRMATION:
        if status in (ApprovalStatus.REJECTED, ApprovalStatus.WITHDRAWN):
            return DECLINED
        return ApprovalStatus.EXPIRED if status == ApprovalStatus.EXPIRED else CONFIRMED
    if status in (ApprovalStatus.REJECTED, ApprovalStatus.EXPIRED):
        return status
    return ApprovalStatus.APPROVED


def audit_outcome(status: ApprovalStatus, by_customer: bool) -> str:
    """A decision as the audit log records it: a customer's on their own confirmation `confirmed | declined`,
    staff's on an approval `approved | rejected`."""
    if not by_customer:
        return status
    return CONFIRMED if status == ApprovalStatus.APPROVED else DECLINED


_FEED_ANSWERS: dict[str, str] = {
    ApprovalStatus.APPROVED: CONFIRM,
    ApprovalStatus.REJECTED: DECLINE,
    ApprovalStatus.WITHDRAWN: ApprovalStatus.WITHDRAWN.value,
    ApprovalStatus.EXPIRED: ApprovalStatus.EXPIRED.value,
}


def feed_answer(status: str) -> str:
    """A decided confirmation in the feed's words: `confirm | decline | withdrawn | expired` (a confirmed call that
    then ran, failed or went to a person was still confirmed)."""
    return _FEED_ANSWERS.get(status, CONFIRM)
