"""What a flag on a run means, and what the service does when a reply earns one.

A flag is a row of `run_flags` (`agent.conversations.tables.RunFlag`): one thing about one run that a reviewer should
look at.
Kinds are a closed vocabulary so the desk's filter, the metric's label and the alert rules agree on every name."""

from __future__ import annotations

from enum import StrEnum


class FlagKind(StrEnum):
    """Why a run is in the review queue."""

    UNGROUNDED_ORDER = "ungrounded_order"
    """The reply names an order id the run never saw."""
    UNGROUNDED_AMOUNT = "ungrounded_amount"
    """A money amount that is in no tool result, message or passage of the run."""
    UNGROUNDED_TRACKING = "ungrounded_tracking"
    UNGROUNDED_DATE = "ungrounded_date"
    UNGROUNDED_ITEM = "ungrounded_item"
    UNGROUNDED_PAYMENT = "ungrounded_payment"
    UNGROUNDED_POLICY = "ungrounded_policy"
    """A statement of store policy (a window, a timing, a fee) with no help-centre passage in the run."""
    FALLBACK = "fallback"
    """A later model of the fallback chain answered (`runs.fallback_reason`)."""
    PROVIDER_REFUSAL = "provider_refusal"
    """The provider refused to answer (stop reason `refusal`)."""
    BUDGET_EXHAUSTED = "budget_exhausted"
    FAILED = "failed"
    THUMBS_DOWN = "thumbs_down"
    """The customer said the answer did not help."""

    @property
    def ungrounded(self) -> bool:
        return self.value.startswith("ungrounded_")


class FlagMode(StrEnum):
    """`SUPPORT_GROUNDING_FLAGS`: what an ungrounded reply does."""

    RECORD = "record"
    """The reply is sent; the flag is recorded for review (the default)."""
    HOLD = "hold"
    """The reply is withheld, the customer is told a colleague will check, and the conversation goes to the desk."""
