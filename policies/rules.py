"""The rules that look at a planned write: rate, money tiers, cumulative refunds, the store's daily budget.

Each rule returns a `Verdict` when it has something to say and `None` when it lets the call pass. Ownership and
the store's state preconditions are not here: the tool's own planning step raises them (see `tools.registry`),
and the engine turns them into denials, so each precondition is written once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from policies.config import PolicyConfig
from policies.decision import Outcome, Verdict
from tools.registry import Change, ToolSpec
from tools.store.money import format_usd
from tools.store.tables import LedgerEntry


@dataclass(frozen=True, slots=True)
class WriteFacts:
    """What the rules know about a write call: the tool, who asks, what it would do, and when."""

    spec: ToolSpec
    customer_id: str
    change: Change
    now: datetime
    session: AsyncSession


async def rate_rule(facts: WriteFacts, config: PolicyConfig) -> Verdict | None:
    limit = config.rate.customer_writes_per_hour
    since = facts.now - timedelta(hours=1)
    done = await facts.session.scalar(
        select(func.count())
        .select_from(LedgerEntry)
        .where(LedgerEntry.customer_id == facts.customer_id, col(LedgerEntry.created_at) >= since)
    )
    if (done or 0) < limit:
        return None
    return Verdict(
        Outcome.DENY,
        "rate.customer_writes_per_hour",
        f"customer made {done} write actions in the last hour; the limit is {limit}",
        "I can't make more changes to your account right now. Please try again in an hour, or I can hand you to "
        "a team member.",
    )


def money_tier_rule(facts: WriteFacts, config: PolicyConfig) -> Verdict | None:
    amount = facts.change.amount_cents
    tier = config.tier_for(facts.spec.name)
    rule = f"money.{facts.spec.name if facts.spec.name in config.tiers else 'default'}"
    if amount <= tier.auto:
        return None
    if amount <= tier.agent:
        return Verdict(
            Outcome.NEEDS_APPROVAL,
            f"{rule}.agent_tier",
            f"{format_usd(amount)} is above the automatic limit of {format_usd(tier.auto)}",
            "A member of our support team will review this before it happens; nothing has changed yet. "
            "You'll hear back here.",
            approver_role="agent",
        )
    if tier.supervisor is not None and amount <= tier.supervisor:
        return Verdict(
            Outcome.NEEDS_APPROVAL,
            f"{rule}.supervisor_tier",
            f"{format_usd(amount)} is above the agent limit of {format_usd(tier.agent)}",
            "A supervisor on our team will review this before it happens; nothing has changed yet. "
            "You'll hear back here.",
            approver_role="supervisor",
        )
    cap = tier.supervisor if tier.supervisor is not None else tier.agent
    return Verdict(
        Outcome.DENY,
        f"{rule}.over_cap",
        f"{format_usd(amount)} is above the hard cap of {format_usd(cap)}",
        "That amount is more than I'm allowed to handle here. I can hand you to a team member who can look at it.",
    )


async def refunds_since(session: AsyncSession, since: datetime, customer_id: str | None = None) -> int:
    query = select(func.coalesce(func.sum(LedgerEntry.refund_cents), 0)).where(col(LedgerEntry.created_at) >= since)
    if customer_id is not None:
        query = query.where(LedgerEntry.customer_id == customer_id)
    return int(await session.scalar(query) or 0)


async def customer_refund_rule(facts: WriteFacts, config: PolicyConfig) -> Verdict | None:
    refund = facts.change.refund_cents
    if refund <= 0:
        return None
    rules = config.cumulative
    window = timedelta(days=rules.customer_refund_window_days)
    earlier = await refunds_since(facts.session, facts.now - window, facts.customer_id)
    if earlier + refund <= rules.customer_refund_limit:
        return None
    return Verdict(
        Outcome.NEEDS_APPROVAL,
        "cumulative.customer_refunds",
        f"refunds of {format_usd(earlier)} in {rules.customer_refund_window_days} days plus {format_usd(refund)} "
        f"pass the limit of {format_usd(rules.customer_refund_limit)}",
        "A member of our support team will review this refund before it is made. You'll hear back here.",
        approver_role=rules.customer_refund_approver,
    )


async def store_budget_rule(facts: WriteFacts, config: PolicyConfig) -> Verdict | None:
    refund = facts.change.refund_cents
    if refund <= 0:
        return None
    rules = config.cumulative
    day_start = facts.now.replace(hour=0, minute=0, second=0, microsecond=0)
    today = await refunds_since(facts.session, day_start)
    if today + refund <= rules.store_daily_refund_budget:
        return None
    return Verdict(
        Outcome.NEEDS_APPROVAL,
        "cumulative.store_daily_refunds",
        f"store refunds today {format_usd(today)} plus {format_usd(refund)} pass the daily budget of "
        f"{format_usd(rules.store_daily_refund_budget)}",
        "A supervisor on our team will review this refund before it is made. You'll hear back here.",
        approver_role=rules.store_daily_refund_approver,
    )
