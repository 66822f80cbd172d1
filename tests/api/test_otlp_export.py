"""What the service really sends over OTLP/HTTP: the service runs as its own process, configured only by the
`OTEL_*` variables, and exports to a local receiver that decodes the protobuf it gets.

One scenario is driven once per module (a status question, then a refund held for approval and approved) and
the tests below read what arrived on the wire. Separately: with no endpoint, or with the SDK disabled, nothing
is sent at all.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Link, SpanKind

from testkit.confirm import confirm_over_http
from testkit.databases import sqlite_copy
from testkit.otlp_receiver import OtlpReceiver, Received, ReceivedSpan
from testkit.server import ServerProcess
from testkit.service import bearer

pytestmark = pytest.mark.slow

CUSTOMER = "james_li_5688"
ORDER = "#W2611340"
MODEL = "offline-intent-1"
RUN_SPAN = "invoke_agent support"
SERVICE_NAME = "support-agent-test"
EXPORT_ENV = {
    "OTEL_SERVICE_NAME": SERVICE_NAME,
    "OTEL_BSP_SCHEDULE_DELAY": "50",
    "OTEL_METRIC_EXPORT_INTERVAL": "200",
}
METRICS = {"gen_ai.client.token.usage", "gen_ai.client.operation.duration", "support.tool.calls"}
WAIT_S = 10.0
JAEGER_UI = "http://jaeger.test:16686"
T = TypeVar("T")


def service(database_url: str, log: Path, **env: str) -> ServerProcess:
    """The service as a process whose only `OTEL_*` variables are those in `env`: none leak in from ours."""
    server = ServerProcess(database_url, log)
    server.env = {k: v for k, v in server.env.items() if not k.startswith("OTEL_") and k != "JAEGER_UI_URL"} | env
    return server


def post_message(client: httpx.Client, conversation: str, text: str) -> dict[str, Any]:
    answer = client.post(f"/v1/conversations/{conversation}/messages", json={"content": text})
    assert answer.status_code == 200, answer.text
    run: dict[str, Any] = answer.json()["run"]
    return run


@dataclass(frozen=True)
class Scenario:
    status_conversation: str
    status_run: dict[str, Any]
    refund_conversation: str
    paused_run: dict[str, Any]
    approval: dict[str, Any]
    resumed_run: dict[str, Any]


def drive(url: str) -> Scenario:
    """A status question, then a refund the policy holds for a human, approved by staff."""
    with httpx.Client(base_url=url, headers=bearer(CUSTOMER), timeout=30) as client:
        status_conversation = client.post("/v1/conversations").json()["id"]
        status_run = post_message(client, status_conversation, f"Where is my order {ORDER}?")
        assert status_run["status"] == "completed", status_run
        refund_conversation = client.post("/v1/conversations").json()["id"]
        asked = post_message(client, refund_conversation, f"Refund me $150 on {ORDER} please")
        paused_run = confirm_over_http(url, CUSTOMER, refund_conversation, asked)
        assert paused_run["status"] == "awaiting_approval", paused_run
    approval_id = paused_run["pending_action"]["approval_id"]
    decided = httpx.post(
        f"{url}/v1/approvals/{approval_id}/approve", json={}, headers=bearer("agent_alice", "agent"), timeout=30
    )
    assert decided.status_code == 200, decided.text
    body = decided.json()
    return Scenario(status_conversation, status_run, refund_conversation, paused_run, body["approval"], body["run"])


def run_span_in(received: Received, trace_id: str | None) -> ReceivedSpan | None:
    found = [s for s in received.in_trace(trace_id or "") if s.name == RUN_SPAN]
    return found[0] if found else None


def everything_arrived(scenario: Scenario) -> Callable[[Received], bool]:
    def check(received: Received) -> bool:
        traces = [received.in_trace(run["trace_id"]) for run in (scenario.status_run, scenario.paused_run)]
        traces.append(received.in_trace(scenario.resumed_run["trace_id"]))
        status_trace, paused_trace, _ = traces
        return (
            all(any(s.name == RUN_SPAN for s in t) and any(s.kind == "SERVER" for s in t) for t in traces)
            and sum(s.name == f"chat {MODEL}" for s in status_trace) == 2
            and any(s.name == "execute_tool get_order_details" for s in status_trace)
            and any(s.name == "execute_tool issue_refund" for s in paused_trace)
            and any(s.name.startswith("approval ") for s in paused_trace)
            and received.metric_names >= METRICS
        )

    return check


@dataclass(frozen=True)
class Exported:
    scenario: Scenario
    received: Received
    log: Path


@pytest.fixture(scope="module")
def exported(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Exported]:
    directory = tmp_path_factory.mktemp("otlp-export")
    with OtlpReceiver() as receiver:
        server = service(
            sqlite_copy(sqlite_template, directory),
            directory / "server.log",
            OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
            JAEGER_UI_URL=JAEGER_UI,
            **EXPORT_ENV,
        )
        try:
            server.start()
            scenario = drive(server.url)
            # Exported while the service runs (50 ms batches, 200 ms metric interval), not only at shutdown.
            receiver.wait_for(everything_arrived(scenario), timeout_s=WAIT_S)
        finally:
            server.stop()
        # after the graceful stop (which flushes), so that a span exported late cannot be missed
        yield Exported(scenario, receiver.snapshot(), directory / "server.log")


def one(found: list[T]) -> T:
    assert len(found) == 1, found
    return found[0]


def test_every_span_carries_the_configured_service_name(exported: Exported) -> None:
    assert {s.resource.get("service.name") for s in exported.received.spans} == {SERVICE_NAME}
    assert {r.get("service.name") for r in exported.received.metric_resources} == {SERVICE_NAME}


def test_the_run_span_is_in_the_trace_the_api_reported(exported: Exported) -> None:
    scenario = exported.scenario
    trace_id = scenario.status_run["trace_id"]
    assert trace_id and len(trace_id) == 32
    run = one([s for s in exported.received.in_trace(trace_id) if s.name == RUN_SPAN])
    assert run.kind == "INTERNAL"
    assert run.scope == "support-agent"
    assert run.attributes["gen_ai.operation.name"] == "invoke_agent"
    assert run.attributes["gen_ai.provider.name"] == "offline"
    assert run.attributes["gen_ai.agent.name"] == "support"
    assert run.attributes["gen_ai.conversation.id"] == scenario.status_conversation
    assert run.attributes["gen_ai.request.model"] == MODEL
    assert run.attributes["support.run.id"] == scenario.status_run["id"]
    assert run.attributes["support.run.status"] == "completed"
    assert run.attributes["gen_ai.usage.input_tokens"] == scenario.status_run["usage"]["input_tokens"]


def test_model_calls_and_tool_calls_are_children_of_the_run(exported: Exported) -> None:
    trace_id = exported.scenario.status_run["trace_id"]
    spans = exported.received.in_trace(trace_id)
    run = one([s for s in spans if s.name == RUN_SPAN])

    chats = [s for s in spans if s.name == f"chat {MODEL}"]
    assert len(chats) == 2
    for chat in chats:
        assert chat.kind == "CLIENT"
        assert chat.parent_span_id == run.span_id
        assert chat.attributes["gen_ai.operation.name"] == "chat"
        assert chat.attributes["gen_ai.provider.name"] == "offline"
        assert chat.attributes["gen_ai.conversation.id"] == exported.scenario.status_conversation
        assert chat.attributes["gen_ai.usage.output_tokens"] > 0
    assert sorted(c.attributes["gen_ai.response.finish_reasons"][0] for c in chats) == ["end_turn", "tool_use"]

    tool = one([s for s in spans if s.name == "execute_tool get_order_details"])
    assert tool.kind == "INTERNAL"
    assert tool.parent_span_id == run.span_id
    assert tool.attributes["gen_ai.tool.name"] == "get_order_details"
    assert tool.attributes["policy.outcome"] == "allow"
    assert tool.attributes["policy.rule"]
    assert tool.attributes["policy.version"]
    # message content is off unless OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT is set
    assert not any(k.startswith(("gen_ai.input", "gen_ai.output", "gen_ai.tool.call.a")) for k in tool.attributes)


def test_the_http_server_span_is_the_parent_of_the_run(exported: Exported) -> None:
    trace_id = exported.scenario.status_run["trace_id"]
    spans = exported.received.in_trace(trace_id)
    server = one([s for s in spans if s.kind == "SERVER"])
    assert server.parent_span_id == ""  # the client sent no traceparent: the request starts the trace
    assert server.name == "POST /v1/conversations/{conversation_id}/messages"
    assert server.scope == "opentelemetry.instrumentation.fastapi"
    assert one([s for s in spans if s.name == RUN_SPAN]).parent_span_id == server.span_id


def test_the_held_call_and_the_approval_link_the_two_traces(exported: Exported) -> None:
    scenario, received = exported.scenario, exported.received
    paused_trace, resumed_trace = scenario.paused_run["trace_id"], scenario.resumed_run["trace_id"]
    assert paused_trace != resumed_trace
    assert scenario.approval["trace_id"] == paused_trace
    assert scenario.approval["trace_url"] == f"{JAEGER_UI}/trace/{paused_trace}"

    paused = run_span_in(received, paused_trace)
    assert paused is not None
    # The run that held the call waited for the customer's Confirm first; the approval opened after it keeps
    # this trace, so the reviewer still finds the policy's hold here.
    assert paused.attributes["support.run.status"] == "awaiting_confirmation"
    held = one([s for s in received.in_trace(paused_trace) if s.name == "execute_tool issue_refund"])
    assert held.parent_span_id == paused.span_id
    assert held.attributes["policy.outcome"] == "needs_approval"

    resumed = run_span_in(received, resumed_trace)
    assert resumed is not None
    approve = one([s for s in received.in_trace(resumed_trace) if s.kind == "SERVER"])
    assert approve.name == "POST /v1/approvals/{approval_id}/approve"
    assert resumed.parent_span_id == approve.span_id
    assert resumed.attributes["support.approval.id"] == scenario.approval["id"]
    assert resumed.attributes["support.approval.approver"] == "agent_alice"
    back = one(resumed.links)
    assert (back.trace_id, back.span_id) == (paused.trace_id, paused.span_id)
    assert back.attributes == {"support.link": "paused_run"}

    marker = one([s for s in received.in_trace(paused_trace) if s.name.startswith("approval ")])
    decision = marker.attributes["support.approval.decision"]
    # the approval's status when the run resumed ("executed"); see the report on naming it "approved"
    assert decision in {"approved", "executed"}
    assert marker.name == f"approval {decision}"
    assert marker.parent_span_id == paused.span_id
    assert marker.attributes["support.resumed_trace_id"] == resumed_trace
    forward = one(marker.links)
    assert (forward.trace_id, forward.span_id) == (resumed.trace_id, resumed.span_id)
    assert forward.attributes == {"support.link": "resumed_run"}


def test_the_metrics_arrive(exported: Exported) -> None:
    assert exported.received.metric_names >= METRICS


@pytest.mark.parametrize(
    "otel",
    [
        pytest.param({}, id="no-otel-variables"),
        pytest.param({"OTEL_SDK_DISABLED": "true"}, id="sdk-disabled"),
    ],
)
def test_nothing_is_sent_without_an_endpoint_or_with_the_sdk_disabled(
    otel: dict[str, str], sqlite_url: str, tmp_path: Path
) -> None:
    with OtlpReceiver() as receiver:
        if otel:  # the endpoint is set, so only OTEL_SDK_DISABLED stands between the service and the receiver
            otel = {**otel, **EXPORT_ENV, "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint}
        server = service(sqlite_url, tmp_path / "server.log", **otel)
        try:
            server.start()
            scenario = drive(server.url)
            sent_while_running = len(receiver.snapshot().requests)
        finally:
            server.stop()  # graceful: a configured exporter would flush here
        assert server.process is not None and server.process.returncode is not None
        assert sent_while_running == 0
        assert receiver.snapshot().requests == []
    for run in (scenario.status_run, scenario.paused_run, scenario.resumed_run):
        assert run["trace_id"] is None
    assert scenario.approval["trace_id"] is None and scenario.approval["trace_url"] is None


def test_the_receiver_decodes_gzip_bodies_links_and_attribute_types(monkeypatch: pytest.MonkeyPatch) -> None:
    """The receiver itself, against the SDK's exporter with compression on, in this process."""
    for name in [n for n in os.environ if n.startswith("OTEL_")]:
        monkeypatch.delenv(name)  # e.g. OTEL_SDK_DISABLED would make the provider below a no-op
    with OtlpReceiver() as receiver:
        provider = TracerProvider(resource=Resource.create({"service.name": "receiver-check"}))
        exporter = OTLPSpanExporter(endpoint=f"{receiver.endpoint}/v1/traces", compression=Compression.Gzip)
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        tracer = provider.get_tracer("check")
        with tracer.start_as_current_span("first") as first:
            pass
        attributes: dict[str, Any] = {"s": "text", "i": 7, "f": 0.5, "b": True, "list": ["a", "b"]}
        with (
            tracer.start_as_current_span(
                "second", kind=SpanKind.CLIENT, attributes=attributes, links=[Link(first.get_span_context(), {"k": 1})]
            ),
            tracer.start_as_current_span("child"),
        ):
            pass
        received = receiver.wait_for(lambda r: len(r.spans) == 3, timeout_s=WAIT_S)
        provider.shutdown()
    spans = {s.name: s for s in received.spans}
    second = spans["second"]
    assert second.kind == "CLIENT"
    assert second.attributes == attributes
    assert second.resource["service.name"] == "receiver-check"
    assert second.scope == "check"
    assert len(second.trace_id) == 32 and len(second.span_id) == 16
    assert spans["child"].parent_span_id == second.span_id and spans["child"].trace_id == second.trace_id
    link = one(second.links)
    assert link.trace_id == spans["first"].trace_id and link.span_id == spans["first"].span_id
    assert link.attributes == {"k": 1}
    assert spans["first"].parent_span_id == ""
    assert received.requests == ["/v1/traces"] * 3


def test_the_approved_call_runs_in_its_own_span_in_the_resumed_trace(exported: Exported) -> None:
    resumed = exported.received.in_trace(exported.scenario.resumed_run["trace_id"])
    [executed] = [s for s in resumed if s.name == "execute_tool issue_refund"]
    assert executed.attributes["policy.outcome"] == "approved"
    assert executed.attributes["support.approval.id"] == exported.scenario.approval["id"]


def test_log_lines_are_json_and_carry_the_trace_of_their_request(exported: Exported) -> None:
    lines = [json.loads(line) for line in exported.log.read_text().splitlines() if line.strip()]
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    access = [line for line in lines if line["logger"] == "support.access"]
    status_message = f"POST /v1/conversations/{exported.scenario.status_conversation}/messages 200"
    [status_line] = [line for line in access if line["message"] == status_message]
    assert status_line["trace_id"] == exported.scenario.status_run["trace_id"]
    assert len(status_line["span_id"]) == 16
    assert not [line for line in access if "/healthz" in line["message"]]  # the start-up polls are not logged
