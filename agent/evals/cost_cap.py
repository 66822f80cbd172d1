"""The evaluation's spending limit, shared by every task running at once.

Every model call of a run (the agent's, as the service prices it, and the simulated customer's, priced with the
same table) is charged here as soon as it returns, and `check()` is called before each new task and each new
model call. All tasks run on one event loop, so charging and checking need no lock; with the cap reached no
task starts and each running one stops at its next turn, so the overshoot is at most one turn per running task.
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
