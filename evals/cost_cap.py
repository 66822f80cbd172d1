"""The evaluation's spending limit, shared by every task running at once.

What each turn cost is charged here as soon as it returns: the agent's runs as the service priced them (the
run's `usage.cost_usd`) and each simulated-customer call, priced with the same table. `check()` runs before each
trial, each simulated-customer call and each message sent to the service (whose own model calls within that turn
are bounded by the service's per-run cost budget, `SUPPORT_MAX_RUN_COST_USD`). All trials run on one event loop,
so charging and checking need no lock; once the cap is reached no trial starts and each running one stops at its
next turn, so the overshoot is at most one turn per running trial.
"""

from __future__ import annotations

from dataclasses import dataclass


class CostCapReached(Exception):
    """The run has spent its `--max-cost-usd`; the task in progress stops and is reported as cut short."""


@dataclass(slots=True)
class CostCap:
    limit_usd: float | None
    spent_usd: float = 0.0

    @property
    def reached(self) -> bool:
        return self.limit_usd is not None and self.spent_usd >= self.limit_usd

    def charge(self, usd: float) -> None:
        self.spent_usd += usd

    def check(self) -> None:
        if self.reached:
            raise CostCapReached(f"spent ${self.spent_usd:.4f} of the ${self.limit_usd:.4f} cap")
