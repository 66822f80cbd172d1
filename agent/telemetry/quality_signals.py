"""The quality loop's signals on telemetry: the flags a run earned (`agent.quality`), as span events and a count by
kind, and customers' verdicts on answers. Part of `Telemetry` (`agent.telemetry.recorder`)."""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry.metrics import Counter, Meter
from opentelemetry.trace import Span

from agent.conversations.tables import Run
from agent.quality.run_flags import Flag
from agent.telemetry.links import METRIC_LABELS, run_labels
from agent.telemetry.masking import mask


class QualitySignals:
    capture_content: bool
    flags: Counter
    feedback: Counter
    grounding_unchecked: Counter

    def count_quality(self, meter: Meter) -> None:
        self.flags = meter.create_counter(
            "support.run.flags",
            unit="{flag}",
            description="Flags on runs for review, by kind (an ungrounded fact in a reply, a fallback's answer, a "
            "refusal, a budget run out, a failure, a customer's thumbs-down), route and prompt version",
        )
        self.feedback = meter.create_counter(
            "support.feedback",
            unit="{verdict}",
            description="Customers' verdicts on answers (helpful true or false), by route and prompt version",
        )
        self.grounding_unchecked = meter.create_counter(
            "support.grounding.unchecked",
            unit="{reply}",
            description="Replies sent without their grounding check because the check itself broke (its stack trace is "
            "in the ERROR log): above zero, flags and holds are missing",
        )

    def run_flagged(self, span: Span | None, run: Run, flags: Sequence[Flag]) -> None:
        """Each flag of a run: an event on its span (the value only with content capture, masked: it is text of
        the reply or the customer's) and a count by kind."""
        labels = {key: value for key, value in run_labels(run).items() if key in METRIC_LABELS}
        for flag in flags:
            if span is not None:
                attributes = {"support.flag.kind": flag.kind.value}
                if self.capture_content:
                    attributes["support.flag.value"] = str(mask(flag.value))
                span.add_event("support.run.flag", attributes)
            self.flags.add(1, {**labels, "kind": flag.kind.value})

    def feedback_given(self, helpful: bool, route: str | None, prompt_version: str | None) -> None:
        """A customer's verdict on an answer (`support_feedback_total` in Prometheus)."""
        self.feedback.add(
            1,
            {
                "helpful": "true" if helpful else "false",
                "support.route": route or "",
                "support.prompt.version": prompt_version or "",
            },
        )
