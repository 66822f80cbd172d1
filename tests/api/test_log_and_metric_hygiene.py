"""What clients and models send cannot shape the operator's tools: a path's CR/LF cannot forge a line of the
text log, and tool names a model invents cannot grow the metrics' label values."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agent.models.scripted import ScriptedModel, calls, say
from agent.telemetry.recorder import UNKNOWN_TOOL, Telemetry
from api.ops.logs import access_log, stderr_handler
from testkit.service import running_service
from tools import registry

JAMES = "james_li_5688"


@pytest.fixture
def text_log() -> Iterator[io.StringIO]:
    """What the service's text-format handler writes, for the access log and one other logger."""
    written = io.StringIO()
    handler = stderr_handler("text")
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(written)
    loggers = [access_log, logging.getLogger("tests.hygiene")]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    yield written
    for logger in loggers:
        logger.removeHandler(handler)


async def test_a_path_with_cr_lf_stays_on_its_own_line_of_the_text_log(sqlite_url: str, text_log: io.StringIO) -> None:
    async with running_service(sqlite_url) as service:
        forged = "/x%0D%0A2026-01-01 00:00:00,000 INFO support.access: POST /v1/approvals/appr_1/approve 200"
        answer = await service.http.get(forged)
        assert answer.status_code == 404
    lines = text_log.getvalue().splitlines()
    [line] = [ln for ln in lines if "/x" in ln]
    assert "\\x0d\\x0a2026-01-01" in line
    assert not any(ln.startswith("2026-01-01 00:00:00,000") for ln in lines)


def test_a_tracebacks_lines_stay_but_its_other_control_characters_are_escaped(text_log: io.StringIO) -> None:
    try:
        raise ValueError("bad input\rINFO all good\u2028next")
    except ValueError:
        logging.getLogger("tests.hygiene").exception("failed on %s", "a\nb")
    written = text_log.getvalue()
    assert "failed on a\\x0ab" in written
    assert "bad input\\x0dINFO all good\\u2028next" in written
    assert written.count("\n") > 3  # the traceback is still lines
    assert "\r" not in written and "\u2028" not in written


async def test_tool_names_a_model_invents_are_counted_as_unknown(sqlite_url: str) -> None:
    reader = InMemoryMetricReader()
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    telemetry = Telemetry(tracer_provider, MeterProvider(metric_readers=[reader]), capture_content=False)
    invented = [(f"made_up_tool_{n}", {}, None) for n in range(5)]
    model = ScriptedModel([calls(*invented, ("get_customer_profile", {}, None)), say("Done.")])
    async with running_service(sqlite_url, model, telemetry=telemetry) as service:
        answer = await service.say(JAMES, await service.new_conversation(JAMES), "hi")
        assert answer.status_code == 200
    data = reader.get_metrics_data()
    assert data is not None
    labels = {
        point.attributes["gen_ai.tool.name"]
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == "support.tool.calls"
        for point in metric.data.data_points
        if point.attributes is not None
    }
    assert labels == {UNKNOWN_TOOL, "get_customer_profile"}
    assert labels <= {spec.name for spec in registry} | {UNKNOWN_TOOL}
    tool_spans = [s for s in spans.get_finished_spans() if s.name.startswith("execute_tool")]
    assert sorted(s.name for s in tool_spans) == ["execute_tool get_customer_profile"] + ["execute_tool unknown"] * 5
    # The span still says which name the model used.
    assert {(s.attributes or {}).get("gen_ai.tool.name") for s in tool_spans} >= {"made_up_tool_0", "made_up_tool_4"}
    tracer_provider.shutdown()
