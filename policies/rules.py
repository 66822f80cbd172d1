"""The rules that look at a planned write: rate, money tiers, cumulative refunds, the store's daily budget.

Each rule returns a `Verdict` when it has something to say and `None` when it lets the call pass. Ownership and
the store's state preconditions are not here: the tool's own planning step raises them (see `tools.registry`),
and the engine turns them into denials, so each precondition is written once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, func
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


@dataclass(frozen=True, slots=True)
class Received:
    """What a customer already received through one tier's tools within the tier window, in cents."""

    on_order: int
    in_total: int


async def received_within(
    session: AsyncSession, config: PolicyConfig, tool: str, customer_id: str, order_id: str | None, since: datetime
) -> Received:
    """The money tiers' memory: refunds the customer received through the tools of `tool`'s tier table since
    `since`, on `order_id` and on all their orders. One indexed read of the customer's ledger rows."""
    tier = config.tier_name(tool)
    named = [name for name in config.tiers if name != "default"]
    same_tier = col(LedgerEntry.tool) == tier if tier != "default" else col(LedgerEntry.tool).not_in(named)
    on_order = case((col(LedgerEntry.order_id) == order_id, LedgerEntry.refund_cents), else_=0)
    row = (
        await session.exec(
            select(func.coalesce(func.sum(on_order), 0), func.coalesce(func.sum(LedgerEntry.refund_cents), 0)).where(
                col(LedgerEntry.customer_id) == customer_id, col(LedgerEntry.created_at) >= since, same_tier
            )
        )
    ).one()
    return Received(on_order=int(row[0]), in_total=int(row[1]))


async def money_tier_rule(facts: WriteFacts, config: PolicyConfig) -> Verdict | None:
    """The tier of what the customer receives: one call's amount decides a denial (over the hard cap); the call
    plus what the customer already received through the same tier within the window (on this order, and on all
    their orders) decides who must approve. The verdict names the sum it compared, also when it allows (then
    another rule may still outrank it, but the decision records the sum)."""
    amount = facts.change.amount_cents
    tier = config.tier_for(facts.spec.name)
    rule = f"money.{config.tier_name(facts.spec.name)}"
    cap = tier.supervisor if tier.supervisor is not None else tier.agent
    if amount > cap:
        return Verdict(
            Outcome.DENY,
            f"{rule}.over_cap",
            f"{format_usd(amount)} is above the hard cap of {format_usd(cap)}",
            "That amount is more than I'm allowed to handle here. I can hand you to a team member who can look at it.",
        )
    if amount <= 0:
        return None
    days = config.tier_window.days
    since = facts.now - timedelta(days=days)
    before = await received_within(
        facts.session, config, facts.spec.name, facts.customer_id, facts.change.order_id, since
    )
    on_order, in_total = before.on_order + amount, before.in_total + amount
    order_level = _level(on_order, tier.auto, tier.agent)
    total_level = _level(in_total, tier.total_auto, tier.total_agent)
    level = max(order_level, total_level)
    if level == 0:
        within = f"{format_usd(on_order)} on the order, {format_usd(in_total)} in all, within the automatic limits"
        return Verdict(Outcome.ALLOW, f"{rule}.auto", within, tier_sum_cents=on_order)
    by_total = total_level > order_level
    seen, earlier = (in_total, before.in_total) if by_total else (on_order, before.on_order)
    auto, agent = (tier.total_auto, tier.total_agent) if by_total else (tier.auto, tier.agent)
    above = f"the automatic limit of {format_usd(auto)}" if level == 1 else f"the agent limit of {format_usd(agent)}"
    if earlier:
        where = "on all orders" if by_total else f"on {facts.change.order_id}"
        reason = (
            f"{format_usd(amount)} with {format_usd(earlier)} received {where} in {days} days makes "
            f"{format_usd(seen)}, which is above {above}"
        )
    else:
        reason = f"{format_usd(amount)} is above {above}"
    approver = "agent" if level == 1 else "supervisor"
    who = "A member of our support team" if level == 1 else "A supervisor on our team"
    return Verdict(
        Outcome.NEEDS_APPROVAL,
        f"{rule}.{'customer_' if by_total else ''}{approver}_tier",
        reason,
        f"{who} will review this before it happens; nothing has changed yet. You'll hear back here.",
        approver_role=approver,
        tier_sum_cents=seen,
    )


def _level(cents: int, auto: int, agent: int) -> int:
    """0: within `auto`; 1: needs an agent; 2: needs a supervisor (past `agent`, whether or not there is a
    supervisor tier: a sum is never refused, only escalated)."""
    if cents <= auto:
        return 0
    return 1 if cents <= agent else 2


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
