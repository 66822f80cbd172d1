"""What the policy engine answers for one tool call."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from policies.config import ROLE_RANK


class Outcome(StrEnum):
    ALLOW = "allow"
    DENY = "deny"
    NEEDS_APPROVAL = "needs_approval"


@dataclass(frozen=True, slots=True)
class Verdict:
    """One rule's finding, before the engine stamps it with the policy version."""

    outcome: Outcome
    rule: str
    reason: str
    customer_message: str = ""
    approver_role: str | None = None
    tier_sum_cents: int | None = None
    """What a money tier compared: the call's amount plus what the customer received within the tier window."""

    def outranks(self, other: Verdict) -> bool:
        """Deny beats approval beats allow; between approvals the more senior approver wins."""
        order = {Outcome.ALLOW: 0, Outcome.NEEDS_APPROVAL: 1, Outcome.DENY: 2}
        if order[self.outcome] != order[other.outcome]:
            return order[self.outcome] > order[other.outcome]
        return ROLE_RANK.get(self.approver_role or "", 0) > ROLE_RANK.get(other.approver_role or "", 0)


@dataclass(frozen=True, slots=True)
class Decision:
    outcome: Outcome
    rule: str
    reason: str
    customer_message: str
    approver_role: str | None
    policy_version: str
    amount_cents: int = 0
    refund_cents: int = 0
    summary: str = ""
    """What the call would do, in a few words (e.g. "refund $50.00 on #W2611340"); empty for reads."""
    tier_sum_cents: int | None = None
    """The sum the money tier compared, for a write that moves money: this call's amount plus what the customer
    received on the order within the tier window (or in total, when that sum decided). None for other calls."""

    @property
    def allowed(self) -> bool:
        return self.outcome is Outcome.ALLOW

    @property
    def denied(self) -> bool:
        return self.outcome is Outcome.DENY

    @property
    def needs_approval(self) -> bool:
        return self.outcome is Outcome.NEEDS_APPROVAL
