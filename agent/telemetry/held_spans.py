"""The spans of held calls: a confirmation's decision in the trace where the call was proposed, and the
`execute_tool` span of a call that ran after a person decided on it, linked to the paused run."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.metrics import Counter
from opentelemetry.trace import Link, Span, SpanKind, Tracer

from agent.conversations.tables import Approval
from agent.telemetry.links import HeldCall, extract_context
from agent.telemetry.masking import mask


class HeldCallSpans:
    """Part of `Telemetry` (`agent.telemetry.recorder`), which provides what is declared here."""

    tracer: Tracer
    capture_content: bool
    tool_calls: Counter

    def tool_label(self, name: str) -> str:
        raise NotImplementedError

    def confirmation_decided(self, confirmation: Approval, outcome: str, by: str, role: str) -> None:
        """A customer's confirmation decided (`confirmed | declined | withdrawn | expired`), as a span in the
        trace where the call was proposed, so a reviewer sees why the write ran or never did. Its event carries
        who decided; the audit log has the same decision as a row."""
        paused = extract_context(confirmation.trace_context)
        with self.tracer.start_as_current_span(
            f"confirmation {outcome}",
            context=paused if trace.get_current_span(paused).get_span_context().is_valid else None,
            kind=SpanKind.INTERNAL,
            attributes={
                "gen_ai.conversation.id": confirmation.conversation_id,
                "gen_ai.tool.name": confirmation.tool,
                "support.confirmation.id": confirmation.id,
            },
        ) as span:
            span.add_event(
                "confirmation.decided",
                {"support.confirmation.decision": outcome, "support.decided_by": by, "support.decided_role": role},
            )

    @contextmanager
    def held_call_span(self, held: HeldCall) -> Iterator[Span]:
        """The `execute_tool` span of a call that ran after a human decided on it (an approval, or a customer's
        confirmation). It is in the trace current at the decision (the resumed one) and links to the paused
        run, where the same call's first span shows the policy holding it."""
        paused = trace.get_current_span(extract_context(held.trace_context)).get_span_context()
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": held.tool,
            "gen_ai.tool.call.id": held.call_id,
            "gen_ai.tool.type": "function",
            "gen_ai.conversation.id": held.conversation_id,
            "policy.outcome": held.decision,
            f"support.{held.kind}.id": held.id,
        }
        if self.capture_content:
            attributes["gen_ai.tool.call.arguments"] = json.dumps(mask(held.arguments), default=str)
        with self.tracer.start_as_current_span(
            f"execute_tool {held.tool}",
            kind=SpanKind.INTERNAL,
            attributes=attributes,
            links=[Link(paused, {"support.link": "paused_run"})] if paused.is_valid else [],
            record_exception=True,
        ) as span:
            yield span

    def held_call_ran(self, span: Span, held: HeldCall, ok: bool, error_code: str | None, result: Any) -> None:
        if not ok and error_code:
            span.set_attribute("error.type", error_code)
        if self.capture_content and result is not None:
            span.set_attribute("gen_ai.tool.call.result", json.dumps(mask(result), default=str))
        self.tool_calls.add(1, {"gen_ai.tool.name": self.tool_label(held.tool), "policy.outcome": held.decision})
