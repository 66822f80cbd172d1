"""The limits of one run: model calls, wall-clock time, tokens and cost. Running out ends the run politely."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from agent.models.base import Usage


@dataclass(frozen=True, slots=True)
class RunLimits:
    max_model_calls: int = 8
    wall_clock_s: float = 60.0
    max_tokens: int = 200_000
    max_cost_micro_usd: int = 500_000
    """Half a dollar per run by default."""


@dataclass(slots=True)
class RunBudget:
    """What a run has spent. `exhausted()` names the first limit reached, checked before every model call."""

    limits: RunLimits
    started: float = field(default_factory=time.monotonic)
    model_calls: int = 0
    usage: Usage = field(default_factory=Usage)
    cost_micro_usd: int = 0

    def spend(self, usage: Usage, cost_micro_usd: int) -> None:
        self.model_calls += 1
        self.usage = self.usage + usage
        self.cost_micro_usd += cost_micro_usd

    def remaining_s(self) -> float:
        return self.limits.wall_clock_s - (time.monotonic() - self.started)

    def exhausted(self) -> str | None:
        if self.model_calls >= self.limits.max_model_calls:
            return "model_calls"
        if self.remaining_s() <= 0:
            return "wall_clock"
        if self.usage.total_tokens >= self.limits.max_tokens:
            return "tokens"
        if self.cost_micro_usd >= self.limits.max_cost_micro_usd:
            return "cost"
        return None
