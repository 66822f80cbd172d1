"""What `GET /v1/insights` answers with: the store's figures per day and per hour (`agent.quality.insights`)."""

from __future__ import annotations

from datetime import datetime

from api.schemas.base import Schema


class InsightsBucketOut(Schema):
    """The figures of one UTC day or hour. Runs count in the bucket they started in. A rate is a share from 0 to
    1, and null where there was nothing to divide (no conversation, no rated answer)."""

    start: datetime
    conversations: int
    """Conversations with a customer message answered in the bucket."""
    runs: int
    """Answers to customer messages (runs)."""
    resolution_rate: float | None
    """Share of the conversations answered without a person and without a failure or exhausted budget."""
    handoff_rate: float | None
    """Share of the conversations handed to a person of the support team."""
    rated: int
    """Answers the customer rated (helpful or not)."""
    helpful_rate: float | None
    """Share of the rated answers the customer found helpful."""
    flagged_rate: float | None
    """Share of the answers flagged for review."""
    fallback_rate: float | None
    """Share of the answers given by a fallback model instead of the configured one."""
    cost_usd: float
    """Model cost of the bucket's answers, in US dollars."""
    cost_per_conversation_usd: float | None
    latency_p50_s: float | None
    """Median time from a customer's message to the answer (or the pause for a confirmation), in seconds."""
    latency_p95_s: float | None
    """95th percentile of that time (nearest rank)."""
    oldest_open_approval_s: float | None
    """How long the oldest approval open at the bucket's end (now, for the current one) had waited, in seconds."""


class RankedOut(Schema):
    name: str
    count: int


class InsightsOut(Schema):
    """How the assistant is doing: figures per day and per hour, and the daily range's top tools and flags."""

    generated_at: datetime
    days: list[InsightsBucketOut]
    """One per UTC day, oldest first, today last."""
    hours: list[InsightsBucketOut]
    """One per hour, oldest first, the current hour last."""
    top_tools: list[RankedOut]
    """The tools called most over the daily range, with their calls."""
    top_flags: list[RankedOut]
    """The flags raised most over the daily range, with the runs that carry them."""
    oldest_open_approval_s: float | None
    """How long the oldest approval waiting for a decision has waited, now, in seconds; null when none waits."""
