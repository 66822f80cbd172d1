"""Whether the service answers with the model it was configured with, and if not, why: what an operator reads in
`/healthz` and `/readyz` and counts in the metrics.

A fall-back nobody notices is a failure. When the provider refuses a request (a 4xx other than 429), that is a
defect of ours: it is logged at ERROR with the part of the request that was refused, counted in
`support.model.rejected` by reason, and the model status reads `degraded` with the reason. So does an answer
given by a later link of the fallback chain, and a link whose circuit is open. A problem stays on the status for
`DEGRADED_FOR_S` after it was last seen, then clears on its own: the fallback still answers meanwhile, so readiness
is not withdrawn.

Per process, like the metrics: with several workers, each reports what it saw.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from agent.errors import ModelRejected
from agent.telemetry.recorder import Telemetry
from basics.clock import utcnow

log = logging.getLogger(__name__)

DEGRADED_FOR_S = 600.0


@dataclass(slots=True)
class Problem:
    reason: str
    """`rejected:<reason>` (the provider refused our request), `fallback` (a later link answered), `circuit_open`."""
    model: str
    detail: str
    count: int
    last_seen: float
    last_at: datetime


class ModelHealth:
    def __init__(
        self,
        telemetry: Telemetry | None = None,
        *,
        window_s: float = DEGRADED_FOR_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.telemetry = telemetry or Telemetry()
        self.window_s = window_s
        self.clock = clock
        self._problems: dict[tuple[str, str], Problem] = {}
        self._circuits: list[Callable[[], list[str]]] = []
        """Each fallback chain reporting here: which of its links have their circuit breaker open now."""

    def watch_circuits(self, open_links: Callable[[], list[str]]) -> None:
        """Read a fallback chain's open circuits with the problems (every route's chain reports to one health)."""
        self._circuits.append(open_links)

    def rejected(self, provider: str, model: str, error: ModelRejected) -> None:
        """The provider refused a request we built: our defect, said loudly."""
        log.error(
            "the model %s:%s refused a request (%s, %s): %s | refused part: %s",
            provider,
            model,
            error.status,
            error.reason,
            error,
            error.excerpt,
            extra={"model_rejected_reason": error.reason, "model_rejected_status": error.status},
        )
        self.telemetry.model_rejected(provider, model, error.reason)
        self._note(f"rejected:{error.reason}", f"{provider}:{model}", str(error))

    def fell_back(self, answered_by: str, reason: str) -> None:
        """A later link of the chain answered; `reason` says what the links before it did."""
        log.warning("answered by %s instead of the first model: %s", answered_by, reason)
        self._note("fallback", answered_by, reason)

    def _note(self, reason: str, model: str, detail: str) -> None:
        now = self.clock()
        problem = self._problems.get((reason, model))
        if problem is None:
            problem = Problem(reason, model, detail[:300], 0, now, utcnow())
            self._problems[(reason, model)] = problem
        problem.count += 1
        problem.detail = detail[:300]
        problem.last_seen = now
        problem.last_at = utcnow()

    def problems(self) -> list[Problem]:
        """What degrades the answers now, most recent first."""
        now = self.clock()
        for key in [key for key, p in self._problems.items() if now - p.last_seen > self.window_s]:
            del self._problems[key]
        current = sorted(self._problems.values(), key=lambda p: p.last_seen, reverse=True)
        for link in (link for open_links in self._circuits for link in open_links()):
            current.append(Problem("circuit_open", link, "calls skipped until the cool-down passes", 1, now, utcnow()))
        return current

    @property
    def status(self) -> str:
        return "degraded" if self.problems() else "ok"
