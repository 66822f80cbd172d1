"""A circuit breaker per model provider: stop calling one that keeps failing, and probe it again later.

closed ──(N failures in a row)──▶ open ──(cool-down passes)──▶ half-open: one probe call
  ▲                                                               │ success: closed; failure: open again
  └───────────────────────────────────────────────────────────────┘
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(slots=True)
class CircuitBreaker:
    failure_threshold: int = 3
    cool_down_s: float = 30.0
    clock: Callable[[], float] = time.monotonic
    failures: int = 0
    opened_at: float | None = None
    probing: bool = field(default=False)

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return "closed"
        if self.clock() - self.opened_at >= self.cool_down_s:
            return "half_open"
        return "open"

    def allow(self) -> bool:
        """Whether to call the provider now. In half-open state only one caller at a time gets through."""
        state = self.state
        if state == "closed":
            return True
        if state == "half_open" and not self.probing:
            self.probing = True
            return True
        return False

    def record_success(self) -> None:
        self.failures = 0
        self.opened_at = None
        self.probing = False

    def record_neutral(self) -> None:
        """A call that failed through no fault of the provider (our request, or one odd answer): it says nothing
        about the provider's health, but a half-open probe it used is given back."""
        self.probing = False

    def record_failure(self) -> None:
        self.failures += 1
        self.probing = False
        if self.opened_at is not None or self.failures >= self.failure_threshold:
            self.opened_at = self.clock()
