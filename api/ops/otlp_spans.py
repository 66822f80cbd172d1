"""Spans sent over OTLP/HTTP for a few microseconds each: the OTLP protobuf written straight from the spans.

The SDK's exporter builds a protobuf message object per span, per attribute and per attribute value, and hashes
each span's resource by serialising its attributes to JSON: about ten times the cost of the span itself, paid in
the batch processor's thread and so taken from the event loop (the GIL). A turn ends eight spans; encoded the
SDK's way they cost more than everything else tracing does in the turn. Written here as bytes, with the resource
and scope encoded once and each attribute's key prefix kept, the same request costs a small fraction of that.

The bytes decode to exactly the message the SDK's encoder builds (`tests/ops/test_otlp_spans.py` compares the two
on spans with every kind of attribute, event, link and status), and everything else about the export (endpoint,
headers, compression, TLS, timeout, retries, size limit) stays the SDK exporter's, configured from `OTEL_*`.

Wire format (protobuf): each field is a tag `(number << 3) | type` as a varint, then a varint (type 0), eight
little-endian bytes (type 1), a varint length and that many bytes (type 2), or four little-endian bytes (type 5).
Field numbers are those of `opentelemetry/proto/trace/v1/trace.proto` and `common/v1/common.proto`.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind

log = logging.getLogger(__name__)

_KIND = {
    SpanKind.INTERNAL: 1,
    SpanKind.SERVER: 2,
    SpanKind.CLIENT: 3,
    SpanKind.PRODUCER: 4,
    SpanKind.CONSUMER: 5,
}
"""The SDK's span kinds as OTLP's `Span.SpanKind` numbers (0 is UNSPECIFIED)."""
_HAS_IS_REMOTE = 0x100
_IS_REMOTE = 0x200
"""`SpanFlags`: whether the parent (or a link's target) is known to be remote, and whether it is."""
_CACHED_ATTRIBUTES = 4096
"""Encoded key-value pairs kept for reuse; the cache starts again when full (ids make most pairs unique)."""
_CACHEABLE = frozenset({str, int, float, bool})
"""Value types whose encoded pairs are cached: hashable, and compared by value (a str subclass such as an enum
member is encoded afresh each time)."""
_fixed64 = struct.Struct("<Q").pack
_fixed32 = struct.Struct("<I").pack
_double = struct.Struct("<d").pack


def _varint(value: int) -> bytes:
    if value < 0x80:
        return bytes((value,))
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _field(tag: bytes, payload: bytes) -> bytes:
    """A length-delimited field: a message, a string or bytes."""
    return tag + _varint(len(payload)) + payload


def _any_value(value: Any) -> bytes:
    """An `AnyValue` message's bytes. Attribute values are what the SDK keeps: str, bool, int, float, bytes,
    sequences of those (and None, encoded as an empty value, as the SDK does)."""
    if isinstance(value, str):
        return _field(b"\x0a", value.encode())
    if isinstance(value, bool):
        return b"\x10\x01" if value else b"\x10\x00"
    if isinstance(value, int):
        if not -(2**63) <= value < 2**63:
            raise ValueError(f"{value} does not fit in an int64")
        return b"\x18" + _varint(value & 0xFFFF_FFFF_FFFF_FFFF)
    if isinstance(value, float):
        return b"\x21" + _double(value)
    if isinstance(value, bytes):
        return _field(b"\x3a", value)
    if value is None:
        return b""
    if isinstance(value, Sequence):
        return _field(b"\x2a", b"".join(_field(b"\x0a", _any_value(item)) for item in value))
    if isinstance(value, Mapping):
        return _field(b"\x32", b"".join(_field(b"\x0a", _key_value(str(k), v)) for k, v in value.items()))
    raise TypeError(f"invalid attribute value type {type(value).__name__}")


def _key_value(key: str, value: Any) -> bytes:
    """A `KeyValue` message's bytes; the value field is written even when empty, as the SDK's encoder does."""
    return _field(b"\x0a", key.encode()) + _field(b"\x12", _any_value(value))


class SpanEncoder:
    """Writes an `ExportTraceServiceRequest` for a batch of finished spans."""

    def __init__(self) -> None:
        self._attributes: dict[tuple[bytes, str, type, Any], bytes] = {}
        self._resources: dict[int, tuple[Resource, bytes]] = {}
        self._scopes: dict[int, tuple[InstrumentationScope | None, bytes]] = {}

    def encode(self, spans: Iterable[ReadableSpan]) -> bytes:
        """Spans grouped by resource, then by instrumentation scope, in the order each first appears."""
        grouped: dict[int, dict[int, list[bytes]]] = {}
        for span in spans:
            resource, scope = span.resource, span.instrumentation_scope
            self._remember(resource, scope)
            grouped.setdefault(id(resource), {}).setdefault(id(scope), []).append(self.span(span))
        resource_spans = []
        for resource_id, scopes in grouped.items():
            resource, encoded_resource = self._resources[resource_id]
            parts = [encoded_resource]
            for scope_id, encoded_spans in scopes.items():
                scope, encoded_scope = self._scopes[scope_id]
                scope_spans = encoded_scope + b"".join(_field(b"\x12", s) for s in encoded_spans)
                if scope is not None and scope.schema_url:
                    scope_spans += _field(b"\x1a", scope.schema_url.encode())
                parts.append(_field(b"\x12", scope_spans))
            if resource.schema_url:
                parts.append(_field(b"\x1a", resource.schema_url.encode()))
            resource_spans.append(_field(b"\x0a", b"".join(parts)))
        return b"".join(resource_spans)

    def _remember(self, resource: Resource, scope: InstrumentationScope | None) -> None:
        """The resource's and the scope's encoded fields, once per object (a provider has one of each per tracer).
        The object is kept with its bytes, so that its id is not reused while the entry exists."""
        if id(resource) not in self._resources:
            self._resources[id(resource)] = (resource, _field(b"\x0a", self.attributes(resource.attributes)))
        if id(scope) not in self._scopes:
            encoded = b""
            if scope is not None:
                encoded = _field(b"\x0a", scope.name.encode())
                if scope.version:
                    encoded += _field(b"\x12", scope.version.encode())
                encoded += self.attributes(scope.attributes, tag=b"\x1a")
            self._scopes[id(scope)] = (scope, _field(b"\x0a", encoded))

    def span(self, span: ReadableSpan) -> bytes:
        context = span.get_span_context()
        assert context is not None, "a finished SDK span has a context"
        parts = [
            b"\x0a\x10" + context.trace_id.to_bytes(16, "big"),
            b"\x12\x08" + context.span_id.to_bytes(8, "big"),
        ]
        if context.trace_state:
            parts.append(_field(b"\x1a", ",".join(f"{k}={v}" for k, v in context.trace_state.items()).encode()))
        if span.parent is not None:
            parts.append(b"\x22\x08" + span.parent.span_id.to_bytes(8, "big"))
        parts.append(_field(b"\x2a", span.name.encode()))
        parts.append(b"\x30" + _varint(_KIND[span.kind]))
        parts.append(b"\x39" + _fixed64(span.start_time or 0))
        parts.append(b"\x41" + _fixed64(span.end_time or 0))
        parts.append(self.attributes(span.attributes, tag=b"\x4a"))
        if span.dropped_attributes:
            parts.append(b"\x50" + _varint(span.dropped_attributes))
        for event in span.events:
            encoded = b"\x09" + _fixed64(event.timestamp) + _field(b"\x12", event.name.encode())
            encoded += self.attributes(event.attributes, tag=b"\x1a")
            if event.dropped_attributes:
                encoded += b"\x20" + _varint(event.dropped_attributes)
            parts.append(_field(b"\x5a", encoded))
        if span.dropped_events:
            parts.append(b"\x60" + _varint(span.dropped_events))
        for link in span.links:
            encoded = b"\x0a\x10" + link.context.trace_id.to_bytes(16, "big")
            encoded += b"\x12\x08" + link.context.span_id.to_bytes(8, "big")
            encoded += self.attributes(link.attributes, tag=b"\x22")
            if link.dropped_attributes:
                encoded += b"\x28" + _varint(link.dropped_attributes)
            encoded += b"\x35" + _fixed32(_flags(link.context))
            parts.append(_field(b"\x6a", encoded))
        if span.dropped_links:
            parts.append(b"\x70" + _varint(span.dropped_links))
        if span.status is not None:
            status = b""
            if span.status.description:
                status += _field(b"\x12", span.status.description.encode())
            if span.status.status_code.value:
                status += b"\x18" + _varint(span.status.status_code.value)
            parts.append(_field(b"\x7a", status))
        parts.append(b"\x85\x01" + _fixed32(_flags(span.parent)))
        return b"".join(parts)

    def attributes(self, attributes: Mapping[str, Any] | None, tag: bytes = b"\x0a") -> bytes:
        """Repeated `KeyValue` fields under `tag`. A value that cannot be encoded is left out and logged, as the
        SDK's encoder does."""
        if not attributes:
            return b""
        cache = self._attributes
        parts = []
        for key, value in attributes.items():
            # the type is part of the key: True == 1 == 1.0, yet each is encoded differently
            cache_key = (tag, key, type(value), value) if type(value) in _CACHEABLE else None
            encoded = cache.get(cache_key) if cache_key is not None else None
            if encoded is None:
                try:
                    encoded = _field(tag, _key_value(key, value))
                except (TypeError, ValueError) as error:
                    log.error("span attribute %s not exported: %s", key, error)
                    continue
                if cache_key is not None:
                    if len(cache) >= _CACHED_ATTRIBUTES:
                        cache.clear()
                    cache[cache_key] = encoded
            parts.append(encoded)
        return b"".join(parts)


def _flags(parent: SpanContext | None) -> int:
    if parent is not None and parent.is_remote:
        return _HAS_IS_REMOTE | _IS_REMOTE
    return _HAS_IS_REMOTE


class OtlpSpanExporter(OTLPSpanExporter):
    """The SDK's OTLP/HTTP span exporter (configuration, transport, retries, its own metrics) with the request
    body written by `SpanEncoder`. Only `export` differs; it follows the SDK's step for step."""

    def __init__(self, endpoint: str | None = None) -> None:
        super().__init__(endpoint=endpoint)
        self._encoder = SpanEncoder()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._shutdown:
            log.warning("span exporter already shut down; batch dropped")
            return SpanExportResult.FAILURE
        with self._metrics.export_operation(len(spans)) as result:
            try:
                body = self._encoder.encode(spans)
            except Exception as error:  # a defect here must cost the batch, not the batch processor's thread
                log.exception("span batch could not be encoded")
                result.error = error
                return SpanExportResult.FAILURE
            if 0 < self._max_request_size < len(body):
                log.warning(
                    "span batch of %d bytes dropped: above the %d-byte limit", len(body), self._max_request_size
                )
                result.error = ValueError("span batch above the request size limit")
                return SpanExportResult.FAILURE
            sent = self._client.export(body)
            if not sent.success:
                result.error = sent.error
                return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS
