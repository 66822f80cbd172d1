"""A run's steps (model calls and tool calls), gathered in order and written with the run's close."""

from __future__ import annotations

from typing import Any

from basics.clock import utcnow


class StepLog:
    """The run's steps, in order. They are written with the run's closing transaction, in one batch: a run that
    dies half-way is marked interrupted anyway, and one write per turn is what keeps turn overhead low."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.rows: list[dict[str, Any]] = []
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
        return [str(row["tool"]) for row in self.rows if row["kind"] == "tool" and not row["is_error"]]

    def audit(self, decision_row: dict[str, Any] | None) -> None:
        if decision_row is not None:
            self.decisions.append(decision_row)

    def add(self, **values: Any) -> None:
        if values.get("kind") == "model":
            self.answered_by = (str(values["provider"]), str(values["model"]))
            self.fallback_reason = values.pop("fallback_reason", None)
        self.kb_version = values.pop("kb_version", None) or self.kb_version
        self.rows.append(
            {**STEP_DEFAULTS, **values, "run_id": self.run_id, "position": len(self.rows), "created_at": utcnow()}
        )


STEP_DEFAULTS: dict[str, Any] = {
    "provider": None,
    "model": None,
    "stop_reason": None,
    "input_tokens": 0,
    "output_tokens": 0,
    "cache_read_tokens": 0,
    "cache_write_tokens": 0,
    "cost_micro_usd": 0,
    "tool": None,
    "tool_use_id": None,
    "arguments": None,
    "decision": None,
    "rule": None,
    "result": None,
    "is_error": False,
    "latency_ms": 0.0,
    "passages": None,
}
