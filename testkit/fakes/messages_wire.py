"""The Messages API's answers as the fake sends them: content blocks, replies, errors, and their wire form (one JSON
`message`, or the Server-Sent Events of a stream).

The shapes follow the installed SDK's response types (anthropic/types/message.py, content_block.py, thinking_block.py,
redacted_thinking_block.py, server_tool_use_block.py, web_search_tool_result_block.py, raw_*_event.py) and the
streaming guide (build-with-claude/streaming: `message_start`, `ping`, per block `content_block_start`, deltas,
`content_block_stop`, then `message_delta` with the stop reason and cumulative usage, and `message_stop`; a
thinking block streams `thinking_delta`s and one `signature_delta` before it stops; an `error` event can arrive
mid-stream).

Thinking blocks and redacted thinking are sealed by the fake when it answers (`testkit.fakes.thinking_seal`): a
script writes `Thinking("...")` and the fake fills in the signature for the request it answers.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from jiter import from_json

_ids = itertools.count(1)

ERROR_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
"""The `error.type` the API sends with each status (api/errors); other statuses get `api_error`."""


def new_tool_id() -> str:
    return f"toolu_fake{next(_ids):06d}"


def new_id(prefix: str) -> str:
    return f"{prefix}{next(_ids):06d}"


@dataclass(frozen=True, slots=True)
class TokenUsage:
    """The `usage` object of a response. Unless the fake counts tokens itself (its prompt cache), tests choose the
    numbers, e.g. large ones to exhaust a token or cost budget."""

    input_tokens: int = 100
    output_tokens: int = 20
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0

    def to_json(self) -> dict[str, int]:
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_read_input_tokens": self.cache_read_input_tokens,
            "cache_creation_input_tokens": self.cache_creation_input_tokens,
        }


# --- content blocks -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Text:
    """A text block, streamed as `pieces` text deltas split at word boundaries."""

    text: str
    pieces: int = 3

    def to_json(self) -> dict[str, Any]:
        return {"type": "text", "text": self.text}

    def start(self) -> dict[str, Any]:
        return {"type": "text", "text": ""}

    def deltas(self) -> list[dict[str, Any]]:
        return [{"type": "text_delta", "text": part} for part in _split_words(self.text, self.pieces)]


@dataclass(frozen=True, slots=True)
class ToolUse:
    """A tool call; its input streams as JSON text cut into `pieces` `input_json_delta` fragments.

    `raw_json` replaces the serialised input on the wire, fragment by fragment: a test sends input that is not valid
    JSON (`raw_json=('{"order_id": ', "banana}")`); in a plain reply the fragments are spliced into the body verbatim,
    which is then not JSON at all, as a corrupted response would be. With `partial`, the fragments are an input cut
    off by `max_tokens`: streamed as they are, and in a plain reply the part that parses (the API returns the block
    with what was generated)."""

    name: str
    input: Any = field(default_factory=dict)
    id: str = field(default_factory=new_tool_id)
    raw_json: tuple[str, ...] | None = None
    pieces: int = 3
    partial: bool = False
    kind: Literal["tool_use", "server_tool_use"] = "tool_use"

    def to_json(self) -> dict[str, Any]:
        value = self.input
        if self.partial and self.raw_json is not None:
            value = from_json("".join(self.raw_json).encode(), partial_mode="trailing-strings")
        return {"type": self.kind, "id": self.id, "name": self.name, "input": value}

    def start(self) -> dict[str, Any]:
        return {"type": self.kind, "id": self.id, "name": self.name, "input": {}}

    def deltas(self) -> list[dict[str, Any]]:
        fragments = list(self.raw_json) if self.raw_json is not None else _split_evenly(_dumps(self.input), self.pieces)
        return [{"type": "input_json_delta", "partial_json": part} for part in fragments]


def server_tool_use(query: str = "returns policy", *, name: str = "web_search", block_id: str | None = None) -> ToolUse:
    """A call of a server tool (agents-and-tools/tool-use/server-tools): the API runs it itself, and no
    `tool_result` is owed for it. Its id uses the `srvtoolu_` prefix."""
    return ToolUse(name, {"query": query}, id=block_id or new_id("srvtoolu_fake"), kind="server_tool_use")


@dataclass(frozen=True, slots=True)
class ServerToolResult:
    """A server tool's result block (`web_search_tool_result`), in the same assistant turn as its call."""

    tool_use_id: str
    kind: str = "web_search_tool_result"
    content: tuple[dict[str, Any], ...] = (
        {
            "type": "web_search_result",
            "url": "https://help.example/returns",
            "title": "Returns",
            "encrypted_content": "EqgfCioIARgBIiQ3YTAwMjY1Mi1jZjgxLTQ0MjUtOGNjZi05MjE1NjVmNTIzMjMSDA",
            "page_age": None,
        },
    )

    def to_json(self) -> dict[str, Any]:
        return {"type": self.kind, "tool_use_id": self.tool_use_id, "content": list(self.content)}

    def start(self) -> dict[str, Any]:
        return self.to_json()

    def deltas(self) -> list[dict[str, Any]]:
        return []


@dataclass(frozen=True, slots=True)
class Thinking:
    """A thinking block. `signature` is filled in by the fake when it answers; `thinking` is blanked on models whose
    display default is `omitted`, which return only the signature."""

    thinking: str = "The customer asks about an order; I should look it up before answering."
    signature: str = ""
    pieces: int = 2

    def to_json(self) -> dict[str, Any]:
        return {"type": "thinking", "thinking": self.thinking, "signature": self.signature}

    def start(self) -> dict[str, Any]:
        return {"type": "thinking", "thinking": "", "signature": ""}

    def deltas(self) -> list[dict[str, Any]]:
        parts = [{"type": "thinking_delta", "thinking": part} for part in _split_evenly(self.thinking, self.pieces)]
        return [*parts, {"type": "signature_delta", "signature": self.signature}]


@dataclass(frozen=True, slots=True)
class RedactedThinking:
    """Thinking the safety systems encrypted: opaque `data`, filled in by the fake, to be passed back unchanged."""

    data: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"type": "redacted_thinking", "data": self.data}

    def start(self) -> dict[str, Any]:
        return self.to_json()

    def deltas(self) -> list[dict[str, Any]]:
        return []


Block = Text | ToolUse | ServerToolResult | Thinking | RedactedThinking


# --- answers ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StreamCut:
    """Stop a streamed reply after `after_events` SSE events (counting from `message_start`, `ping` included).

    * `drop`: close the socket with no terminating chunk, as a network failure does.
    * `end`: finish the HTTP body properly without the remaining events (no `message_stop`).
    * `error`: send an `error` event of `error_type` (the API's way of failing mid-stream), then end.
    * `stall`: send nothing more until the client gives up or the fake stops.
    """

    after_events: int
    how: Literal["drop", "end", "error", "stall"] = "drop"
    error_type: str = "overloaded_error"
    error_message: str = "Overloaded"


@dataclass(frozen=True, slots=True)
class Reply:
    """One answer of the model: its content blocks, stop reason and usage, and how to deliver it.

    `thinking`: None answers as the request's thinking configuration implies (a thinking block first whenever
    thinking is on, as a model thinking at the default effort does); False never adds one. `stop_details` goes with
    a `refusal`. `delay_s` holds the answer back; `cut` applies to streamed replies. `model` defaults to the model
    the request named, as the API echoes it."""

    content: tuple[Block, ...]
    stop_reason: str | None = "end_turn"
    usage: TokenUsage = field(default_factory=TokenUsage)
    model: str | None = None
    delay_s: float = 0.0
    cut: StreamCut | None = None
    id: str = field(default_factory=lambda: new_id("msg_fake"))
    thinking: bool | None = None
    stop_details: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class HttpError:
    """An error status with the API's error body (api/errors: `{"type": "error", "error": {"type", "message"}}`).
    `retry_after` (seconds) and `retry_after_ms` set the headers the SDK honours; `should_retry` sets
    `x-should-retry`, which overrides the SDK's own choice."""

    status: int
    message: str = "fake failure"
    error_type: str | None = None
    retry_after: float | str | None = None
    retry_after_ms: float | None = None
    should_retry: bool | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    delay_s: float = 0.0

    def body(self) -> dict[str, Any]:
        kind = self.error_type or ERROR_TYPES.get(self.status, "api_error")
        return {"type": "error", "error": {"type": kind, "message": self.message}}


@dataclass(frozen=True, slots=True)
class Disconnect:
    """Read the request, then close the connection without a byte of response (after `delay_s`)."""

    delay_s: float = 0.0


@dataclass(frozen=True, slots=True)
class OddBody:
    """A 200 whose JSON body is `body` as given, whatever it holds: a provider's malformed answer."""

    body: bytes
    delay_s: float = 0.0


Answer = Reply | HttpError | Disconnect | OddBody


# --- the wire -----------------------------------------------------------------------------------------------------


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _split_evenly(text: str, pieces: int) -> list[str]:
    """`text` in up to `pieces` consecutive non-empty parts (one part for short texts)."""
    if not text:
        return []
    size = max(1, -(-len(text) // max(1, pieces)))
    return [text[i : i + size] for i in range(0, len(text), size)]


def _split_words(text: str, pieces: int) -> list[str]:
    words = text.split(" ")
    if len(words) < 2 or pieces < 2:
        return [text] if text else []
    per = -(-len(words) // pieces)
    parts = [" ".join(words[i : i + per]) for i in range(0, len(words), per)]
    return [p + " " for p in parts[:-1]] + [parts[-1]]


def message_json(reply: Reply, model: str) -> dict[str, Any]:
    """The non-streamed response body (the SDK's `Message`)."""
    return {
        "id": reply.id,
        "type": "message",
        "role": "assistant",
        "model": reply.model or model,
        "content": [block.to_json() for block in reply.content],
        "stop_reason": reply.stop_reason,
        "stop_sequence": None,
        "stop_details": dict(reply.stop_details) if reply.stop_details else None,
        "usage": reply.usage.to_json(),
    }


def message_body(reply: Reply, model: str) -> bytes:
    """The non-streamed body as bytes, with any `raw_json` tool input spliced in verbatim (a corrupted body)."""
    data = message_json(reply, model)
    raw: dict[str, str] = {}
    for index, block in enumerate(reply.content):
        if isinstance(block, ToolUse) and block.raw_json is not None and not block.partial:
            marker = f"__fake_raw_input_{index}__"
            data["content"][index]["input"] = marker
            raw[json.dumps(marker)] = "".join(block.raw_json)
    text = _dumps(data)
    for marker, value in raw.items():
        text = text.replace(marker, value)
    return text.encode()


def stream_events(reply: Reply, model: str) -> list[tuple[str, dict[str, Any]]]:
    """The SSE events of a streamed reply, in the API's order, as (event name, data)."""
    usage = reply.usage
    start_usage = {**usage.to_json(), "output_tokens": 1}
    opening = {**message_json(reply, model), "content": [], "stop_reason": None, "stop_details": None}
    events: list[tuple[str, dict[str, Any]]] = [
        ("message_start", {"type": "message_start", "message": {**opening, "usage": start_usage}}),
        ("ping", {"type": "ping"}),
    ]
    for index, block in enumerate(reply.content):
        start = {"type": "content_block_start", "index": index, "content_block": block.start()}
        events.append(("content_block_start", start))
        events.extend(
            ("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})
            for delta in block.deltas()
        )
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    delta = {"stop_reason": reply.stop_reason, "stop_sequence": None}
    if reply.stop_details:
        delta["stop_details"] = dict(reply.stop_details)
    events.append(("message_delta", {"type": "message_delta", "delta": delta, "usage": usage.to_json()}))
    events.append(("message_stop", {"type": "message_stop"}))
    return events


def sse(event: str, data: Mapping[str, Any]) -> bytes:
    return f"event: {event}\ndata: {_dumps(data)}\n\n".encode()


def chunk(payload: bytes) -> bytes:
    return f"{len(payload):x}\r\n".encode() + payload + b"\r\n"
