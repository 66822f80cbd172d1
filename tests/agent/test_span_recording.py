"""Spans cost nothing when nothing records them (`agent.telemetry.recording`), and the cheaper current-span switch
keeps what `start_as_current_span` did: the parent, the error status and the exception event."""

from __future__ import annotations

import pytest
from opentelemetry import trace
from opentelemetry.trace import StatusCode

from agent.models.base import Message, ModelRequest
from agent.telemetry.recorder import Telemetry
from testkit.telemetry import recording


def test_without_a_tracer_provider_no_span_is_made() -> None:
    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider), "no provider is set in tests"
    telemetry = Telemetry()
    assert not telemetry.tracing
    request = ModelRequest(system="", tools=[], messages=[Message.user_text("hi")], conversation_id="conv_1")
    with telemetry.run_span(run_id="run_1", conversation_id="conv_1", provider="offline", model="m") as run:
        assert not run.is_recording() and not run.get_span_context().is_valid
        with telemetry.model_span("offline", "m", request) as chat:
            assert chat is None
        with telemetry.tool_span("get_order_details", "toolu_1", {}, "conv_1") as tool:
            assert not tool.is_recording()
            assert trace.get_current_span() is trace.INVALID_SPAN


def fail_in_a_tool_span(telemetry: Telemetry, run: trace.Span) -> None:
    with telemetry.tool_span("get_order_details", "toolu_1", {}, "conv_1"):
        assert trace.get_current_span() is not run
        raise LookupError("no such order")


def test_a_failing_tool_call_is_an_error_on_its_span_and_the_run_span_stays_current_around_it() -> None:
    with recording() as recorded:
        telemetry = recorded.telemetry
        assert telemetry.tracing
        with telemetry.run_span(run_id="run_1", conversation_id="conv_1", provider="offline", model="m") as run:
            with pytest.raises(LookupError):
                fail_in_a_tool_span(telemetry, run)
            assert trace.get_current_span() is run
        assert trace.get_current_span() is trace.INVALID_SPAN
        [tool] = recorded.named("execute_tool")
        [run_span] = recorded.named("invoke_agent")
    assert tool.parent is not None and tool.parent.span_id == run_span.context.span_id
    assert tool.status.status_code == StatusCode.ERROR
    assert tool.status.description == "LookupError: no such order"
    assert [event.name for event in tool.events] == ["exception"]
    assert run_span.status.status_code == StatusCode.UNSET
    assert tool.end_time is not None and run_span.end_time is not None
