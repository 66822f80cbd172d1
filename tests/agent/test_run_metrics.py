"""The run metrics the alert rules read: every finished turn's duration (with buckets fine enough for a p95 of a
few seconds) and a count of the runs a fallback model answered, beside `support.runs`."""

from __future__ import annotations

from datetime import timedelta

from opentelemetry.trace import INVALID_SPAN

from agent.conversations.tables import Run
from agent.telemetry.recorder import TURN_SECONDS_BUCKETS
from basics.clock import utcnow
from testkit.service import running_service
from testkit.telemetry import recording


async def test_a_turn_records_its_duration(sqlite_url: str) -> None:
    with recording() as recorded:
        async with running_service(sqlite_url, telemetry=recorded.telemetry) as service:
            conversation = await service.new_conversation("james_li_5688")
            answered = await service.say("james_li_5688", conversation, "Where is my order #W2611340?")
            assert answered.status_code == 200, answered.text
        points = recorded.points()
    (duration,) = points["support.turn.duration"]
    assert duration.count == 1 and duration.sum > 0
    assert tuple(duration.explicit_bounds) == TURN_SECONDS_BUCKETS
    assert dict(duration.attributes) == {"support.route": "default", "support.prompt.version": "v1"}
    assert "support.runs.fallback" not in points  # the configured model answered


def test_a_run_a_fallback_model_answered_is_counted_as_such() -> None:
    started = utcnow()

    def run(name: str, fallback_reason: str | None) -> Run:
        return Run(
            id=name,
            conversation_id="conv_1",
            customer_id="james_li_5688",
            status="completed",
            model_provider="offline",
            model_name="offline-intent-1",
            started_at=started,
            finished_at=started + timedelta(seconds=3),
            fallback_reason=fallback_reason,
            route="default",
            prompt_version="v1",
        )

    with recording() as recorded:
        recorded.telemetry.finish_run(INVALID_SPAN, run("run_1", None))
        recorded.telemetry.finish_run(INVALID_SPAN, run("run_2", "model_overloaded: the first model was overloaded"))
        points = recorded.points()
    assert sum(p.value for p in points["support.runs"]) == 2
    (fallback,) = points["support.runs.fallback"]
    assert fallback.value == 1 and fallback.attributes["gen_ai.response.model"] == "offline-intent-1"
    assert sum(p.count for p in points["support.turn.duration"]) == 2
