"""A run's steps (model calls and tool calls), gathered in order and written with the run's close."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from enum import StrEnum
from typing import Any

from basics.clock import utcnow


class StepKind(StrEnum):
    MODEL = "model"
    TOOL = "tool"


@dataclass(slots=True)
class StepRecord:
    """One step of a run, as its `steps` row stores it (`agent.conversations.tables.Step`): a model call (provider,
    model, stop reason, tokens, cost) or a tool call (tool, arguments, the gate's decision and rule, the result)."""

    run_id: str
    position: int
    kind: StepKind
    created_at: datetime
    provider: str | None = None
    model: str | None = None
    stop_reason: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_micro_usd: int = 0
    tool: str | None = None
    tool_use_id: str | None = None
    arguments: Any = None
    decision: str | None = None
    rule: str | None = None
    result: Any = None
    is_error: bool = False
    latency_ms: float = 0.0
    passages: Any = None

    def row(self) -> dict[str, Any]:
        """The values of its `steps` row, by column."""
        return {name: getattr(self, name) for name in COLUMNS}


COLUMNS = tuple(field.name for field in fields(StepRecord))


class StepLog:
    """The run's steps, in order. They are written with the run's closing transaction, in one batch: a run that
    dies half-way is marked interrupted anyway, and one write per turn is what keeps turn overhead low."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.rows: list[StepRecord] = []
        self.decisions: list[dict[str, Any]] = []
        """Audit rows of the run's allowed reads, stored with the steps (`agent.turn.tool_gate.ToolGate`)."""
        self.answered_by: tuple[str, str] | None = None
        """Provider and model of the last model call: with a fallback chain, the link that answered."""
        self.kb_version: str | None = None
        """The help centre's version the run's searches read."""
        self.fallback_reason: str | None = None
        """Why the last model call was answered by a later link of a fallback chain, if it was."""

    @property
    def tools_run(self) -> list[str]:
        """The tools this run ran without an error, in order."""
        return [str(row.tool) for row in self.rows if row.kind == StepKind.TOOL and not row.is_error]

    def audit(self, decision_row: dict[str, Any] | None) -> None:
        if decision_row is not None:
            self.decisions.append(decision_row)

    def add(self, kind: StepKind, **values: Any) -> None:
        if kind == StepKind.MODEL:
            self.answered_by = (str(values["provider"]), str(values["model"]))
            self.fallback_reason = values.pop("fallback_reason", None)
        self.kb_version = values.pop("kb_version", None) or self.kb_version
        self.rows.append(StepRecord(self.run_id, len(self.rows), kind, utcnow(), **values))
