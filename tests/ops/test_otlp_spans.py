"""The service's own OTLP span encoding (`api.ops.otlp_spans`) decodes to the very message the SDK's encoder
builds, for spans with every kind of attribute value, events, links, statuses, remote parents and two scopes; and
its exporter delivers them to an OTLP/HTTP receiver."""

from __future__ import annotations

import os

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    set_span_in_context,
)
from opentelemetry.trace.span import TraceState

from api.ops.otlp_spans import OtlpSpanExporter, SpanEncoder
from testkit.otlp_receiver import OtlpReceiver

ATTRIBUTES = {
    "text": "héllo, wörld",
    "empty": "",
    "yes": True,
    "no": False,
    "zero": 0,
    "small": 7,
    "big": 2**62,
    "negative": -12345,
    "smallest": -(2**63),
    "half": 0.5,
    "negative float": -1.25e-9,
    "texts": ["a", "", "c"],
    "flags": [True, False],
    "ints": [1, -2, 300],
    "floats": [0.0, 2.5],
    "long": "x" * 300,
}


@pytest.fixture(autouse=True)
def no_sdk_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("OTEL_")]:
        monkeypatch.delenv(name)  # OTEL_SDK_DISABLED would make the providers below no-ops


def finished_spans() -> list[ReadableSpan]:
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "encoder-check", "replica": 3}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("first", "1.2.3", schema_url="https://opentelemetry.io/schemas/1.44.0")
    other = provider.get_tracer("second")
    remote = SpanContext(
        trace_id=0x0123456789ABCDEF0123456789ABCDEF,
        span_id=0x1122334455667788,
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
        trace_state=TraceState([("vendor", "value"), ("other", "x")]),
    )
    with tracer.start_as_current_span("root", kind=SpanKind.SERVER, attributes=ATTRIBUTES) as root:
        root.add_event("plain")
        root.add_event("with attributes", {"policy.outcome": "allow", "count": 3})
        with other.start_as_current_span("child", kind=SpanKind.CLIENT) as child:
            child.set_status(Status(StatusCode.ERROR, "the model refused"))
        with tracer.start_as_current_span(
            "linked", links=[Link(root.get_span_context(), {"support.link": "paused_run"}), Link(remote)]
        ) as linked:
            linked.set_status(Status(StatusCode.OK))
    tracer.start_span("remote child", context=set_span_in_context(NonRecordingSpan(remote))).end()
    for kind in (SpanKind.PRODUCER, SpanKind.CONSUMER, SpanKind.INTERNAL):
        tracer.start_span(f"kind {kind.name}", kind=kind, attributes={"same": "value", "n": 1}).end()
    provider.shutdown()
    return list(memory.get_finished_spans())


def test_the_encoding_decodes_to_the_sdk_encoders_message() -> None:
    spans = finished_spans()
    encoder = SpanEncoder()
    for _ in range(2):  # the second time from the encoder's cached resource, scopes and attribute pairs
        ours = ExportTraceServiceRequest.FromString(encoder.encode(spans))
        assert ours == encode_spans(spans)
    assert sum(len(s.spans) for r in ours.resource_spans for s in r.scope_spans) == len(spans)


def test_an_attribute_that_cannot_be_encoded_is_left_out_and_the_rest_stays() -> None:
    [span] = [s for s in finished_spans() if s.name == "root"]
    span._attributes = {**(span.attributes or {}), "too big": 2**64}  # the SDK's encoder drops it too
    decoded = ExportTraceServiceRequest.FromString(SpanEncoder().encode([span]))
    keys = [kv.key for kv in decoded.resource_spans[0].scope_spans[0].spans[0].attributes]
    assert "too big" not in keys and "text" in keys


def test_the_exporter_delivers_the_spans_to_an_otlp_receiver() -> None:
    spans = finished_spans()
    with OtlpReceiver() as receiver:
        exporter = OtlpSpanExporter(endpoint=f"{receiver.endpoint}/v1/traces")
        assert exporter.export(spans) == SpanExportResult.SUCCESS
        received = receiver.wait_for(lambda r: len(r.spans) == len(spans), timeout_s=10)
        exporter.shutdown()
        assert exporter.export(spans) == SpanExportResult.FAILURE
    root = received.named("root")[0]
    assert root.kind == "SERVER"
    assert root.attributes == ATTRIBUTES
    assert root.resource == {"service.name": "encoder-check", "replica": 3, **_sdk_resource_defaults()}
    linked = received.named("linked")[0]
    assert [link.attributes for link in linked.links] == [{"support.link": "paused_run"}, {}]
    assert received.named("remote child")[0].parent_span_id == "1122334455667788"


def _sdk_resource_defaults() -> dict[str, object]:
    defaults = dict(Resource.create({}).attributes)
    defaults.pop("service.name", None)
    return defaults
