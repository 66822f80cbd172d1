"""What an approver needs to decide a held action, gathered in one read: the order as it stands, the customer's
refunds in the policy's window against its cap, what the money tier counted (received on this order and in all
through the same tier's tools), earlier approvals for the same order, the tier needed, who may decide it, and the
time left before it expires.

It is read when the approver looks, not stored with the approval, because the order and the refunds may have
moved since the call was held, and the approver must decide on the present.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, or_
from sqlmodel import col, select

from agent.conversations.tables import Approval
from agent.held.status import ApprovalStatus, HeldKind
from basics.clock import utcnow
from basics.database import Database
from policies.config import ROLE_RANK, PolicyConfig
from policies.rules import received_within, refunds_since
from tools.store.money import to_dollars
from tools.store.tables import Order

STAFF_ROLES = ("agent", "supervisor")


@dataclass(frozen=True, slots=True)
class RefundWindow:
    days: int
    refunded: float
    """Refunds already paid to this customer within the window."""
    limit: float
    this_action: float
    after: float
    """Refunded in the window if this action runs."""


@dataclass(frozen=True, slots=True)
class TierWindow:
    """What the money tier counts: what the customer received through this tier's tools within its window."""

    tier: str
    """The policy's tier table the action falls under (`default`, or a tool's own, e.g. `issue_refund`)."""
    days: int
    on_order: float
    """Received on this action's order."""
    in_total: float
    """Received on all the customer's orders."""
    this_action: float
    after_on_order: float
    """Received on the order if this action runs: the sum the tier compares with its limits."""


@dataclass(frozen=True, slots=True)
class EarlierApproval:
    id: str
    status: str
    tool: str
    amount: float
    created_at: str
    decided_by: str | None
    note: str | None


@dataclass(frozen=True, slots=True)
class ApprovalContext:
    order: dict[str, Any] | None
    refund_window: RefundWindow
    tier_window: TierWindow
    earlier_approvals: list[EarlierApproval]
    tier_needed: str
    may_decide: list[str]
    """Staff roles whose limit for this tool covers the amount and whose rank reaches the tier needed."""
    time_left_s: float


def may_decide(policy: PolicyConfig, approval: Approval) -> list[str]:
    needed = ROLE_RANK.get(approval.approver_role, 0)
    return [
        role
        for role in STAFF_ROLES
        if ROLE_RANK[role] >= needed and policy.approver_limit(role, approval.tool) >= approval.amount_cents
    ]


def decidable_by(policy: PolicyConfig, role: str) -> ColumnElement[bool]:
    """SQL for "what a member of `role` may decide": the tier needed is within reach, and the amount is within
    the role's limit for that tool (tools without a tier of their own use the default tier)."""
    reachable = [r for r in ROLE_RANK if ROLE_RANK[r] <= ROLE_RANK.get(role, 0)]
    named = [tool for tool in policy.tiers if tool != "default"]
    within = [
        and_(col(Approval.tool) == tool, col(Approval.amount_cents) <= policy.approver_limit(role, tool))
        for tool in named
    ]
    within.append(
        and_(col(Approval.tool).not_in(named), col(Approval.amount_cents) <= policy.approver_limit(role, "default"))
    )
    return and_(col(Approval.approver_role).in_(reachable), or_(*within))


def order_view(order: Order) -> dict[str, Any]:
    """The order as an approver reads it: dollars, not cents, and the totals worked out."""
    paid = sum(p["amount_cents"] for p in order.payment_history if p["transaction_type"] == "payment")
    refunded = sum(p["amount_cents"] for p in order.payment_history if p["transaction_type"] == "refund")
    return {
        "order_id": order.order_id,
        "status": order.status,
        "items": [
            {"item_id": i["item_id"], "name": i["name"], "price": to_dollars(i["price_cents"]), "options": i["options"]}
            for i in order.items
        ],
        "totals": {
            "items": to_dollars(sum(i["price_cents"] for i in order.items)),
            "paid": to_dollars(paid),
            "refunded": to_dollars(refunded),
        },
        "payment_history": [
            {
                "transaction_type": p["transaction_type"],
                "amount": to_dollars(p["amount_cents"]),
                "payment_method_id": p["payment_method_id"],
            }
            for p in order.payment_history
        ],
    }


async def approval_context(database: Database, policy: PolicyConfig, approval: Approval) -> ApprovalContext:
    order_id = approval.arguments.get("order_id")
    window_days = policy.cumulative.customer_refund_window_days
    now = utcnow()
    async with database.session(readonly=True) as session:
        order = await session.get(Order, order_id) if isinstance(order_id, str) else None
        if order is not None and order.customer_id != approval.customer_id:
            order = None  # never show an approver another customer's order under this one's name
        refunded = await refunds_since(session, now - timedelta(days=window_days), approval.customer_id)
        tier_days = policy.tier_window.days
        received = await received_within(
            session,
            policy,
            approval.tool,
            approval.customer_id,
            order_id if isinstance(order_id, str) else None,
            now - timedelta(days=tier_days),
        )
        siblings = await session.exec(
            select(Approval)
            .where(
                col(Approval.customer_id) == approval.customer_id,
                col(Approval.id) != approval.id,
                col(Approval.kind) == HeldKind.APPROVAL,  # the customer's own confirmations are not decisions of staff
            )
            .order_by(col(Approval.created_at))
        )
        earlier = [a for a in siblings.all() if order_id and a.arguments.get("order_id") == order_id]
    this_action = approval.amount_cents if approval.status == ApprovalStatus.PENDING else 0
    return ApprovalContext(
        order=order_view(order) if order else None,
        refund_window=RefundWindow(
            days=window_days,
            refunded=to_dollars(refunded),
            limit=to_dollars(policy.cumulative.customer_refund_limit),
            this_action=to_dollars(this_action),
            after=to_dollars(refunded + this_action),
        ),
        tier_window=TierWindow(
            tier=policy.tier_name(approval.tool),
            days=tier_days,
            on_order=to_dollars(received.on_order),
            in_total=to_dollars(received.in_total),
            this_action=to_dollars(this_action),
            after_on_order=to_dollars(received.on_order + this_action),
        ),
        earlier_approvals=[
            EarlierApproval(
                id=a.id,
                status=a.status,
                tool=a.tool,
                amount=to_dollars(a.amount_cents),
                created_at=a.created_at.isoformat(),
                decided_by=a.decided_by,
                note=a.note,
            )
            for a in earlier
        ],
        tier_needed=approval.approver_role,
        may_decide=may_decide(policy, approval),
        time_left_s=max(0.0, (approval.expires_at - now).total_seconds()),
    )
