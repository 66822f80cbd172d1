"""Tracing and metrics of agent runs, after the OpenTelemetry GenAI semantic conventions. All of it is here.

One trace per run:

    invoke_agent support            INTERNAL  the run: conversation, model, usage totals, cost, status
    ├── chat {model}                CLIENT    one per model call; for Anthropic the SDK's own span
    │   └── anthropic.messages.create         (with the HTTP details and retries) is its child
    └── execute_tool {tool}         INTERNAL  one per tool call, with the policy decision on it

A call the policy denies or holds is a normal span with `policy.outcome` = deny / needs_approval, not an error.
A run that pauses for approval stores its W3C trace context with the approval; the run that resumes after the
decision links back to it, and a short `approval {decision}` span is added to the paused trace, linking forward,
so a reviewer can go from either trace to the other.

Message content is recorded only when `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true`, and then masked
(`agent.telemetry.masking`): personal fields, emails, phone numbers, payment ids, and the customer's own name, email and
addresses wherever they appear in text.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.metrics import Meter, MeterProvider, Observation
from opentelemetry.trace import INVALID_SPAN, Link, Span, SpanKind, Status, StatusCode, Tracer, TracerProvider

from agent.conversations.tables import Run
from agent.held.status import RunStatus
from agent.models.base import ModelRequest, ModelResponse
from agent.telemetry import masking
from agent.telemetry.held_spans import HeldCallSpans
from agent.telemetry.links import (
    PausedRun,
    all_input_tokens,
    extract_context,
    metric_labels,
    run_attributes,
    run_labels,
    trace_id_of,
)
from agent.telemetry.masking import capture_content_from_env, mask
from agent.telemetry.quality_signals import QualitySignals
from agent.telemetry.recording import Current, records_spans
from policies.decision import Decision
from tools import registry as store_tools

UNKNOWN_TOOL = "unknown"
"""The metric label and span name of a tool the model made up: its name is on the span's attributes only, so a
model inventing names cannot grow the metrics' label values (or the set of span names) without bound."""

AGENT_NAME = "support"
SCOPE = "support-agent"
PROVIDERS_WITH_OWN_SPANS = frozenset({"fallback"})
"""Providers that make their `chat` spans themselves, so the loop must not add another: the fallback chain (one
span per link it calls). The Anthropic SDK's own span (`anthropic.messages.create`) is not named as the GenAI
conventions say, nor does it count input tokens; it stays, as a child of our `chat {model}` span."""

TURN_SECONDS_BUCKETS = (0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 8.0, 13.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0)
"""Bucket bounds of the turn-duration histogram: the SDK's default (0, 5, 10, 25, ... 10000) would put every
answer under five seconds in one bucket, and the p95 alert reads the quantile from these."""


class Telemetry(HeldCallSpans, QualitySignals):
    """The service's tracer and instruments. Built with explicit providers (tests pass in-memory ones); the
    defaults are the global providers, which `api.ops.observability` configures from the `OTEL_*` variables."""

    def __init__(
        self,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
        *,
        capture_content: bool | None = None,
    ) -> None:
        self.tracer_provider = tracer_provider or trace.get_tracer_provider()
        self.tracer: Tracer = self.tracer_provider.get_tracer(SCOPE)
        self._tracing = False
        self.meter_provider = meter_provider or metrics.get_meter_provider()
        meter: Meter = self.meter_provider.get_meter(SCOPE)
        self.capture_content = capture_content_from_env() if capture_content is None else capture_content
        self.personal_data: Callable[[str], Awaitable[list[str]]] | None = None
        """Looks up a customer's personal strings (names, email, addresses) to mask in recorded content."""
        self.token_usage = meter.create_histogram(
            "gen_ai.client.token.usage", unit="{token}", description="Tokens used per model call"
        )
        self.operation_duration = meter.create_histogram(
            "gen_ai.client.operation.duration", unit="s", description="Duration of model calls"
        )
        self.tool_calls = meter.create_counter(
            "support.tool.calls", unit="{call}", description="Tool calls by tool and policy outcome"
        )
        self.pending_approvals = 0
        """The last count read from the database (`api.ops.metrics` refreshes it), kept current in between by this
        process's own openings and decisions. An up-down counter would start at 0 after every restart and count
        only this replica's approvals; a gauge of the stored count is right after a restart and across replicas."""
        meter.create_observable_gauge(
            "support.approvals.pending",
            callbacks=[lambda _: [Observation(self.pending_approvals)]],
            unit="{approval}",
            description="Approvals waiting for a decision, as stored",
        )
        self.oldest_pending_opened: datetime | None = None
        """When the oldest approval still waiting was opened, as last read from the database (`api.ops.metrics`)."""
        meter.create_observable_gauge(
            "support.approvals.oldest_age",
            callbacks=[lambda _: [Observation(self.oldest_pending_age_s())]],
            unit="s",
            description="How long the oldest approval waiting for a decision has waited, as stored (0: none waits)",
        )
        self.cost = meter.create_counter("support.run.cost", unit="USD", description="Model cost of runs")
        self.runs = meter.create_counter(
            "support.runs",
            unit="{run}",
            description="Finished runs by status, the route they started on, the prompt version and the model that "
            "answered: a canary's or a route's share of failures, side by side with the live one's",
        )
        self.turn_duration = meter.create_histogram(
            "support.turn.duration",
            unit="s",
            description="From a customer's message to the run's end (its answer, or its pause for a confirmation or "
            "an approval), by route and prompt version",
            explicit_bucket_boundaries_advisory=TURN_SECONDS_BUCKETS,
        )
        self.fallbacks = meter.create_counter(
            "support.runs.fallback",
            unit="{run}",
            description="Finished runs a later model of the fallback chain answered, by the model that did: the "
            "configured model failed them",
        )
        self.count_quality(meter)
        self.escalations = meter.create_counter(
            "support.route.escalations",
            unit="{turn}",
            description="Turns moved from the simple route to the default one, by why (a proposed write, a failure)",
        )
        self.known_tools: frozenset[str] = frozenset(spec.name for spec in store_tools)
        """Tool names that may label a metric or name a span (the loop sets its registry's); others are
        `UNKNOWN_TOOL`."""
        self.rejected = meter.create_counter(
            "support.model.rejected",
            unit="{request}",
            description="Requests the model provider refused (a 4xx other than 429), by reason: defects of ours",
        )
        self.turns_waiting: Callable[[], int] = lambda: 0
        """How many of this process's turns (and new conversations) wait for a place to compute (`agent.limits.pacing`;
        the loop sets it). Above zero for long, the workers have more work than cores: a sign to add replicas."""
        meter.create_observable_gauge(
            "support.turns.waiting",
            callbacks=[lambda _: [Observation(self.turns_waiting())]],
            unit="{turn}",
            description="Turns and new conversations waiting for a place to compute, in this process "
            "(SUPPORT_TURNS_AT_ONCE)",
        )

    @property
    def tracing(self) -> bool:
        """Whether spans are recorded (`agent.telemetry.recording`); once they are, they stay so."""
        if not self._tracing:
            self._tracing = records_spans(self.tracer_provider)
        return self._tracing

    def oldest_pending_age_s(self) -> float:
        """Read when scraped, so the age grows between two reads of the database."""
        opened = self.oldest_pending_opened
        return 0.0 if opened is None else max(0.0, (datetime.now(UTC) - opened).total_seconds())

    async def know_customer(self, customer_id: str) -> None:
        """Mask this customer's own personal data in the content the current task records (content capture only:
        without it nothing is looked up)."""
        if self.capture_content and self.personal_data is not None:
            masking.current.set(masking.Masker(await self.personal_data(customer_id)))

    # ---- spans --------------------------------------------------------------------------------------------

    @contextmanager
    def run_span(
        self,
        *,
        run_id: str,
        conversation_id: str,
        provider: str,
        model: str,
        paused: PausedRun | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> Iterator[Span]:
        """`labels`: the run's route and prompt version (`agent.routing.routes`, `agent.routing.prompt_versions`)."""
        if not self.tracing:
            yield INVALID_SPAN
            return
        links = []
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.provider.name": provider,
            "gen_ai.agent.name": AGENT_NAME,
            "gen_ai.conversation.id": conversation_id,
            "gen_ai.request.model": model,
            "support.run.id": run_id,
            **(labels or {}),
        }
        if paused is not None:
            context = trace.get_current_span(extract_context(paused.trace_context)).get_span_context()
            if context.is_valid:
                links.append(Link(context, {"support.link": "paused_run"}))
            attributes.update(
                {
                    "support.approval.id": paused.approval_id,
                    "support.approval.decision": paused.decision,
                    "support.approval.approver": paused.approver or "",
                    "support.approval.wait_s": paused.waited_s,
                }
            )
        span = self.tracer.start_span(
            f"invoke_agent {AGENT_NAME}", kind=SpanKind.INTERNAL, attributes=attributes, links=links
        )
        with Current(span):
            try:
                yield span
            finally:
                if paused is not None:  # also when the resumed run fails: that is when a reviewer follows it
                    self._mark_paused_trace(paused, span)

    def finish_run(self, span: Span, run: Run) -> None:
        """Totals and outcome of the finished run; the cost metric is labelled with the provider that answered."""
        if span.is_recording():
            if run.status == RunStatus.FAILED:
                span.set_status(Status(StatusCode.ERROR, run.error or "the run failed"))
            span.set_attributes(run_attributes(run))
        labels = run_labels(run)
        self.runs.add(1, {**labels, "support.run.status": run.status})
        if run.fallback_reason:
            self.fallbacks.add(1, labels)
        if run.finished_at is not None:
            self.turn_duration.record(
                max(0.0, (run.finished_at - run.started_at).total_seconds()),
                {"support.route": labels["support.route"], "support.prompt.version": labels["support.prompt.version"]},
            )
        if run.cost_micro_usd:
            self.cost.add(run.cost_micro_usd / 1_000_000, labels)

    def route_escalated(self, kind: str, why: str, labels: Mapping[str, str]) -> None:
        """A turn left the simple route: counted, and marked on the span current then (the run's)."""
        self.escalations.add(1, {**labels, "support.route.escalation": kind})
        trace.get_current_span().add_event("route.escalated", {"support.route.escalation": why})

    def _mark_paused_trace(self, paused: PausedRun, resumed: Span) -> None:
        """A span in the paused run's trace that points at the resumed run."""
        parent = extract_context(paused.trace_context)
        if not trace.get_current_span(parent).get_span_context().is_valid:
            return
        marker = self.tracer.start_span(
            f"approval {paused.decision}",
            context=parent,
            kind=SpanKind.INTERNAL,
            links=[Link(resumed.get_span_context(), {"support.link": "resumed_run"})],
            attributes={
                "support.approval.id": paused.approval_id,
                "support.approval.decision": paused.decision,
                "support.approval.approver": paused.approver or "",
                "support.approval.wait_s": paused.waited_s,
                "support.resumed_trace_id": trace_id_of(resumed) or "",
            },
        )
        marker.end()

    @contextmanager
    def model_span(self, provider: str, model: str, request: ModelRequest) -> Iterator[Span | None]:
        """The `chat` span, unless the provider's SDK makes its own; then the SDK's span is the one, and it
        becomes a child of the run span because the run span is current. None as well when spans are not recorded."""
        if provider in PROVIDERS_WITH_OWN_SPANS or not self.tracing:
            yield None
            return
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": provider,
            "gen_ai.request.model": model,
            "gen_ai.request.max_tokens": request.max_tokens,
            "gen_ai.conversation.id": request.conversation_id,
            **request.labels,
        }
        if self.capture_content:
            attributes["gen_ai.input.messages"] = json.dumps(mask([m.to_json() for m in request.messages[-6:]]))
        with Current(self.tracer.start_span(f"chat {model}", kind=SpanKind.CLIENT, attributes=attributes)) as span:
            yield span

    def model_answered(
        self,
        span: Span | None,
        provider: str,
        model: str,
        response: ModelResponse,
        seconds: float,
        labels: Mapping[str, str] | None = None,
    ) -> None:
        common = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": provider,
            "gen_ai.request.model": model,
            **metric_labels(labels),
        }
        self.operation_duration.record(seconds, common)
        self.token_usage.record(all_input_tokens(response), {**common, "gen_ai.token.type": "input"})
        self.token_usage.record(response.usage.output_tokens, {**common, "gen_ai.token.type": "output"})
        if span is not None and span.is_recording():
            self.describe_answer(span, model, response)

    def describe_answer(self, span: Span, model: str, response: ModelResponse) -> None:
        """The answer's attributes on a `chat` span (no metrics: the caller records those once per call)."""
        span.set_attributes(
            {
                "gen_ai.response.model": response.model or model,
                "gen_ai.response.finish_reasons": [response.stop_reason],
                "gen_ai.usage.input_tokens": all_input_tokens(response),
                "gen_ai.usage.output_tokens": response.usage.output_tokens,
                "gen_ai.usage.cache_read.input_tokens": response.usage.cache_read_input_tokens,
                "gen_ai.usage.cache_creation.input_tokens": response.usage.cache_creation_input_tokens,
            }
        )
        if self.capture_content:
            span.set_attribute("gen_ai.output.messages", json.dumps(mask([response.as_message().to_json()])))

    @contextmanager
    def tool_span(
        self, name: str, call_id: str, arguments: Any, conversation_id: str, labels: Mapping[str, str] | None = None
    ) -> Iterator[Span]:
        if not self.tracing:
            yield INVALID_SPAN
            return
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": name,
            "gen_ai.tool.call.id": call_id,
            "gen_ai.tool.type": "function",
            "gen_ai.conversation.id": conversation_id,
            **(labels or {}),
        }
        if self.capture_content:
            attributes["gen_ai.tool.call.arguments"] = json.dumps(mask(arguments), default=str)
        span_name = f"execute_tool {self.tool_label(name)}"
        with Current(self.tracer.start_span(span_name, kind=SpanKind.INTERNAL, attributes=attributes)) as span:
            yield span

    def tool_label(self, name: str) -> str:
        return name if name in self.known_tools else UNKNOWN_TOOL

    def tool_decided(
        self,
        span: Span,
        name: str,
        decision: Decision | None,
        ok: bool,
        error_code: str | None,
        result: Any,
        labels: Mapping[str, str] | None = None,
    ) -> None:
        outcome = decision.outcome.value if decision else "invalid"
        if span.is_recording():
            attributes: dict[str, Any] = {"policy.outcome": outcome}
            if decision is not None:
                attributes["policy.rule"], attributes["policy.version"] = decision.rule, decision.policy_version
                span.add_event(
                    "policy.decision",
                    {"policy.outcome": outcome, "policy.rule": decision.rule, "policy.reason": decision.reason},
                )
            if not ok and error_code and outcome == "allow":
                attributes["error.type"] = error_code  # the tool ran and failed (e.g. order not pending)
            if self.capture_content and result is not None:
                attributes["gen_ai.tool.call.result"] = json.dumps(mask(result), default=str)
            span.set_attributes(attributes)
        self.tool_calls.add(
            1, {"gen_ai.tool.name": self.tool_label(name), "policy.outcome": outcome, **metric_labels(labels)}
        )

    def passages_used(self, span: Span, passages: list[dict[str, Any]] | None) -> None:
        """The help-centre passages a search handed the model: what a reply's policy answer rests on."""
        if passages is None or not span.is_recording():
            return
        span.set_attributes(
            {
                "support.kb.passage_ids": [str(p["id"]) for p in passages],
                "support.kb.scores": [float(p["score"] or 0.0) for p in passages],
            }
        )

    def model_rejected(self, provider: str, model: str, reason: str) -> None:
        self.rejected.add(1, {"reason": reason, "gen_ai.provider.name": provider, "gen_ai.request.model": model})

    def approval_opened(self) -> None:
        self.pending_approvals += 1

    def approval_closed(self) -> None:
        self.pending_approvals = max(0, self.pending_approvals - 1)
