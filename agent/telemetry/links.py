"""What a trace carries between runs and onto metrics: the W3C trace context an approval stores (so the run that
resumes links back to the paused one), the held calls and paused runs those links describe, and the few labels
metrics may carry."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from opentelemetry import trace
from opentelemetry.propagators.textmap import DefaultGetter
from opentelemetry.trace import Span
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from agent.conversations.tables import Run
from agent.held.status import RunStatus
from agent.models.base import ModelResponse

_PROPAGATOR = TraceContextTextMapPropagator()


@dataclass(frozen=True, slots=True)
class PausedRun:
    """What the resumed run knows about the run an approval paused."""

    approval_id: str
    trace_context: dict[str, str]
    decision: str
    approver: str | None
    waited_s: float


@dataclass(frozen=True, slots=True)
class HeldCall:
    """A held call a human decided on, as its `execute_tool` span names it."""

    kind: str  # "approval" or "confirmation"
    id: str
    decision: str
    conversation_id: str
    trace_context: dict[str, str]
    tool: str
    call_id: str
    arguments: dict[str, Any]


METRIC_LABELS = ("support.route", "support.prompt.version")
"""Of a turn's labels, those metrics carry: few values each. The prompt's id and the route's reason go on spans."""


def metric_labels(labels: Mapping[str, str] | None) -> dict[str, str]:
    return {key: labels[key] for key in METRIC_LABELS if labels and key in labels}


def run_labels(run: Run) -> dict[str, str]:
    """A finished run's metric attributes: the model that answered, the route it started on, its prompt version."""
    return {
        "gen_ai.provider.name": run.model_provider,
        "gen_ai.response.model": run.model_name,
        "support.route": run.route or "",
        "support.prompt.version": run.prompt_version or "",
    }


def run_attributes(run: Run) -> dict[str, Any]:
    """A finished run's totals and outcome, as its span carries them."""
    attributes: dict[str, Any] = {
        # the conventions count cached input in the input tokens; the cache attributes give its share
        "gen_ai.usage.input_tokens": run.input_tokens + run.cache_read_tokens + run.cache_write_tokens,
        "gen_ai.usage.output_tokens": run.output_tokens,
        "gen_ai.usage.cache_read.input_tokens": run.cache_read_tokens,
        "gen_ai.usage.cache_creation.input_tokens": run.cache_write_tokens,
        "support.run.status": run.status,
        "support.run.cost_usd": run.cost_micro_usd / 1_000_000,
    }
    if run.route_escalation:
        attributes["support.route.escalation"] = run.route_escalation
    if run.status == RunStatus.FAILED:
        attributes["error.type"] = (run.error or "failed").split(":", 1)[0]
    return attributes


def all_input_tokens(response: ModelResponse) -> int:
    """Input tokens as the GenAI conventions count them: cache reads and writes included (Anthropic reports the
    three separately)."""
    usage = response.usage
    return usage.input_tokens + usage.cache_read_input_tokens + usage.cache_creation_input_tokens


def current_trace_context() -> dict[str, str]:
    """The W3C trace context of the current span, to store with an approval, plus its trace id for links."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    if trace_id := trace_id_of(trace.get_current_span()):
        carrier["trace_id"] = trace_id
    return carrier


def extract_context(carrier: dict[str, str]) -> Any:
    return _PROPAGATOR.extract(carrier, getter=DefaultGetter())


def trace_id_of(span: Span) -> str | None:
    context = span.get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None
