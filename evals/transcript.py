"""What one played case leaves behind, for the evaluators and the reports: plain data, JSON-serialisable.

Tool calls are read twice, from two independent records: the run's steps in the database (`tool_calls`) and
the OpenTelemetry `execute_tool` spans captured in memory (`spans`). Evaluators may check either; the golden
suite checks that both tell the same story.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from pydantic import BaseModel, Field

from agent import Approval, Run


class TurnRecord(BaseModel):
    """One input turn and the service's answer to it."""

    kind: str
    """`say`, `confirm` or `staff`."""
    text: str
    """The message, the confirmation answer, or the staff action and note."""
    http_status: int
    run_status: str | None = None
    reply: str | None = None
    error: str | None = None
    """The error body's code and message when the service refused the turn (or nothing was pending)."""


class ToolCallRecord(BaseModel):
    """A tool call the model made, as the run's step recorded it, with the policy's decision."""

    run_id: str
    tool: str
    arguments: Any = None
    decision: str | None = None
    """`allow`, `deny`, `needs_approval` or `needs_confirmation` (what the gate decided)."""
    rule: str | None = None
    is_error: bool = False
    result: Any = None


class SpanRecord(BaseModel):
    """A finished OpenTelemetry span, enough to rebuild a pydantic-evals `SpanTree`."""

    name: str
    trace_id: str
    span_id: str
    parent_span_id: str | None = None
    start_ns: int
    end_ns: int
    attributes: dict[str, Any] = Field(default_factory=dict)


class HeldCallRecord(BaseModel):
    """A call held for a decision: the customer's confirmation or a staff approval."""

    kind: str
    """`confirmation` or `approval`."""
    tool: str
    status: str
    arguments: dict[str, Any]
    approver_role: str
    amount: float
    rule: str
    note: str | None = None


class RunRecord(BaseModel):
    id: str
    status: str
    model: str
    """`provider:name` of the model that answered."""
    model_calls: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    latency_s: float | None
    route: str | None = None
    """The model route the run started on (`simple` or `default`), when the service routes."""
    route_escalation: str | None = None
    """Why it moved from `simple` to `default`, when it did."""
    flags: list[str] = Field(default_factory=list)
    """The run's flags for review (`agent.quality.flags.FlagKind`), as `kind: value`."""


class Transcript(BaseModel):
    """Everything a case produced. `error` is set when the harness itself could not play the case."""

    case: str
    model: str
    customer: str
    conversation_id: str = ""
    turns: list[TurnRecord] = Field(default_factory=list)
    replies: list[str] = Field(default_factory=list)
    """Every assistant message in the conversation, in order (answers after a confirmation or approval too)."""
    runs: list[RunRecord] = Field(default_factory=list)
    tool_calls: list[ToolCallRecord] = Field(default_factory=list)
    spans: list[SpanRecord] = Field(default_factory=list)
    held_calls: list[HeldCallRecord] = Field(default_factory=list)
    initial_state: dict[str, Any] = Field(default_factory=dict)
    """The customer's account before the first turn, in the same shape as `final_state`."""
    final_state: dict[str, Any] = Field(default_factory=dict)
    """The customer's account after the case: `{"address", "payment_methods", "orders"}`, in the store's
    field names (`fixtures/db.json`)."""
    latency_s: float = 0.0
    """Wall clock of the whole case, every turn included."""
    error: str | None = None

    @property
    def final_status(self) -> str | None:
        """The status of the last run of the conversation."""
        return self.runs[-1].status if self.runs else None

    @property
    def input_tokens(self) -> int:
        return sum(r.input_tokens for r in self.runs)

    @property
    def output_tokens(self) -> int:
        return sum(r.output_tokens for r in self.runs)

    @property
    def cost_usd(self) -> float:
        return round(sum(r.cost_usd for r in self.runs), 6)

    def calls_of(self, tool: str) -> list[ToolCallRecord]:
        return [c for c in self.tool_calls if c.tool == tool]


def run_record(run: Run, flags: list[str]) -> RunRecord:
    """A stored run as the transcript keeps it."""
    latency = (run.finished_at - run.started_at).total_seconds() if run.finished_at else None
    return RunRecord(
        id=run.id,
        status=run.status,
        model=f"{run.model_provider}:{run.model_name}",
        model_calls=run.model_calls,
        input_tokens=run.input_tokens + run.cache_read_tokens + run.cache_write_tokens,
        output_tokens=run.output_tokens,
        cost_usd=run.cost_micro_usd / 1_000_000,
        latency_s=latency,
        route=run.route,
        route_escalation=run.route_escalation,
        flags=flags,
    )


def held_record(approval: Approval) -> HeldCallRecord:
    return HeldCallRecord(
        kind=approval.kind,
        tool=approval.tool,
        status=approval.status,
        arguments=approval.arguments,
        approver_role=approval.approver_role,
        amount=approval.amount_cents / 100,
        rule=approval.rule,
        note=approval.note,
    )


def span_record(span: ReadableSpan) -> SpanRecord:
    context = span.get_span_context()
    assert context is not None
    return SpanRecord(
        name=span.name,
        trace_id=f"{context.trace_id:032x}",
        span_id=f"{context.span_id:016x}",
        parent_span_id=f"{span.parent.span_id:016x}" if span.parent else None,
        start_ns=span.start_time or 0,
        end_ns=span.end_time or 0,
        attributes=dict(span.attributes or {}),
    )
