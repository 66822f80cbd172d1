"""The flags a run earns as it ends, and how they are stored and shown.

A run is flagged for review when a fallback model answered it (`runs.fallback_reason`), the provider refused to
answer (a `refusal` stop reason), a budget ran out, it failed, or its reply states facts nothing in the run
supports (`agent.quality.grounding`). The flags are written with the run's close, in the same transaction (and on
PostgreSQL in the same statement), and only when there are any: most runs earn none and pay nothing for this.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from agent.conversations.steps import StepKind, StepRecord
from agent.held.status import RunStatus
from agent.quality.flags import FlagKind
from agent.quality.grounding import MAX_VALUE


@dataclass(frozen=True, slots=True)
class Flag:
    kind: FlagKind
    value: str = ""
    """What was flagged, as stated: the ungrounded fact, the fallback's reason, the budget, the error."""

    @classmethod
    def of(cls, kind: FlagKind, value: str | None) -> Flag:
        return cls(kind, (value or "").strip()[:MAX_VALUE])


def ending_flags(
    *,
    status: str,
    budget_exhausted: str | None,
    fallback_reason: str | None,
    error: str | None,
    refused: bool,
) -> list[Flag]:
    """The flags of how a run ended (grounding's come from the reply itself)."""
    flags = []
    if fallback_reason:
        flags.append(Flag.of(FlagKind.FALLBACK, fallback_reason))
    if refused:
        flags.append(Flag.of(FlagKind.PROVIDER_REFUSAL, "refusal"))
    if status == RunStatus.BUDGET_EXHAUSTED:
        flags.append(Flag.of(FlagKind.BUDGET_EXHAUSTED, budget_exhausted))
    if status == RunStatus.FAILED:
        flags.append(Flag.of(FlagKind.FAILED, error))
    return flags


def refused_in(steps: Iterable[StepRecord]) -> bool:
    """Whether a model call of the run stopped with `refusal` (the provider declined to answer)."""
    return any(step.kind == StepKind.MODEL and step.stop_reason == "refusal" for step in steps)


def flag_rows(run_id: str, conversation_id: str, flags: Sequence[Flag], now: datetime) -> list[dict[str, Any]]:
    """`run_flags` rows for a multi-row insert."""
    return [
        {
            "run_id": run_id,
            "conversation_id": conversation_id,
            "kind": f.kind.value,
            "value": f.value,
            "created_at": now,
        }
        for f in flags
    ]
