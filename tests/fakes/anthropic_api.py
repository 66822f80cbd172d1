"""A local stand-in for the Anthropic Messages API that speaks its wire protocol, for the official SDK to call.

Why a fake server rather than a mocked client: the adapter's job is to drive the real SDK (request shape, prompt
caching markers, streaming accumulation, retries, `retry-after`, timeouts, the mapping of HTTP statuses to
exception classes), and a mock would replace exactly the code under test. Pointing `AsyncAnthropic(base_url=...)`
at this server keeps the whole SDK in the path while the test decides, reply by reply, what "the model" answers.

Why raw HTTP/1.1 on asyncio instead of an ASGI app: several faults worth testing live below HTTP semantics.
An ASGI server always answers (a crash becomes a 500) and always terminates a chunked body properly, so it can
neither drop a connection without a response nor cut a stream mid-way the way a failing network does. Here the
test controls every byte. The server runs on its own event loop in a daemon thread, so it is independent of the
event loop (and loop scope) of the test that uses it, and works from sync and async tests alike.

What it speaks:

* `POST /v1/messages` with a JSON body. Without `"stream": true` the answer is one JSON `message` object; with
  it, a `text/event-stream` of `message_start`, `ping`, then per content block `content_block_start`, one or
  more `content_block_delta` (`text_delta` for text, `input_json_delta` for tool input, split into several
  `partial_json` fragments as the real API does), `content_block_stop`, and finally `message_delta` (stop
  reason, cumulative usage) and `message_stop`. Every event has an `event:` and a `data:` line.
* Errors as the API shapes them: `{"type": "error", "error": {"type": ..., "message": ...}}`, with a
  `request-id` header and optionally `retry-after` / `retry-after-ms`.

How a test uses it::

    with FakeMessagesAPI() as api:
        api.add(call("get_order_details", {"order_id": "#W1"}), say("It shipped."))
        model = AnthropicModel("claude-sonnet-4-6", api_key="test", base_url=api.base_url)
        ...
        assert api.requests[1].body["messages"][-1]["content"][0]["type"] == "tool_result"
        api.assert_done()

Replies are consumed in order, one per HTTP request (so a retried request consumes the next reply: script
`overloaded(), say("hi")` to see a retry succeed). Two models talking to each other through the same fake (the
agent and a simulated customer in a live evaluation) get a script each: `FakeMessagesAPI(lanes={"customer":
system_says("playing a customer")})` sends requests whose system prompt matches to the `customer` lane, which
`add(..., lane="customer")` scripts; everything else uses the default lane.
A reply may be a callable taking the request body, to answer
from what the model was sent. A request arriving when the script is empty is answered with a non-retryable 400
and recorded as a failure, which `assert_done()` reports, as it reports exceptions raised by reply callables.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Any, Literal, Self

from tests.fakes.prompt_cache import PromptCache, TooManyBreakpoints

__all__ = [
    "Disconnect",
    "FakeMessagesAPI",
    "HttpError",
    "ReceivedRequest",
    "Reply",
    "Script",
    "StreamCut",
    "Text",
    "TokenUsage",
    "ToolUse",
    "call",
    "calls",
    "http_error",
    "overloaded",
    "say",
    "system_says",
]

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
"""The `error.type` the API sends with each status; other statuses get `api_error`."""

REASONS: dict[int, str] = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    408: "Request Timeout",
    409: "Conflict",
    413: "Payload Too Large",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
    529: "Overloaded",
}


def new_tool_id() -> str:
    return f"toolu_fake{next(_ids):06d}"


# --- what a reply is made of ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TokenUsage:
    """The `usage` object of a response. The fake does not count tokens; tests choose the numbers (e.g. large ones
    to exhaust a token or cost budget)."""

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


@dataclass(frozen=True, slots=True)
class Text:
    """A text block. Streamed as `pieces` text deltas (split at word boundaries), so a consumer of the stream
    sees the answer arrive in parts as it does from the real API."""

    text: str
    pieces: int = 3

    def to_json(self) -> dict[str, Any]:
        return {"type": "text", "text": self.text}


@dataclass(frozen=True, slots=True)
class ToolUse:
    """A tool call. `input` is streamed as its JSON text cut into `pieces` `input_json_delta` fragments.

    `raw_json`, when given, replaces the serialised input on the wire, fragment by fragment: this is how a test
    sends tool input that is not valid JSON (`raw_json=('{"order_id": ', "banana}")`). In a streamed reply each
    fragment is one delta; in a non-streamed reply the fragments are joined and spliced verbatim into the body
    as the value of `input`, which then makes the whole body invalid JSON, as a corrupted response would be.
    """

    name: str
    input: Any = field(default_factory=dict)
    id: str = field(default_factory=new_tool_id)
    raw_json: tuple[str, ...] | None = None
    pieces: int = 3

    def to_json(self) -> dict[str, Any]:
        return {"type": "tool_use", "id": self.id, "name": self.name, "input": self.input}

    def json_fragments(self) -> list[str]:
        if self.raw_json is not None:
            return list(self.raw_json)
        return _split_evenly(json.dumps(self.input, ensure_ascii=False), self.pieces)


Block = Text | ToolUse


@dataclass(frozen=True, slots=True)
class StreamCut:
    """Stop a streamed reply after `after_events` SSE events (counting from `message_start`, `ping` included).

    * `drop`: close the socket with no terminating chunk, as a network failure does; the client sees an
      incomplete body.
    * `end`: finish the HTTP body properly, but without the remaining events (no `message_stop`): a stream that
      looks complete at the HTTP level and is not at the protocol level.
    * `error`: send an `error` event (`overloaded_error`, as the API does when it fails mid-stream), then end.
    * `stall`: send nothing more and keep the connection open until the client gives up (its read timeout) or
      the fake stops: a provider that hangs mid-answer.
    """

    after_events: int
    how: Literal["drop", "end", "error", "stall"] = "drop"


@dataclass(frozen=True, slots=True)
class Reply:
    """One answer of the model: its content blocks, stop reason and usage, and how to deliver it.

    `delay_s` holds the answer back (before any byte is sent), for timeouts; the wait ends early if the client
    hangs up or the server stops, so a long delay never holds up a test. `cut` only applies to streamed replies.
    `model` defaults to the model named in the request, as the API echoes it.
    """

    content: tuple[Block, ...]
    stop_reason: str | None = "end_turn"
    usage: TokenUsage = field(default_factory=TokenUsage)
    model: str | None = None
    delay_s: float = 0.0
    cut: StreamCut | None = None
    id: str = field(default_factory=lambda: f"msg_fake{next(_ids):06d}")


@dataclass(frozen=True, slots=True)
class HttpError:
    """An error status with an Anthropic-shaped body. `retry_after` (seconds, as the SDK also accepts fractions)
    and `retry_after_ms` set the headers the SDK honours when it retries; with neither, the SDK backs off on its
    own schedule (0.5 s and up), so fast tests set one. `should_retry` sets `x-should-retry`, which overrides the
    SDK's own choice."""

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
Script = Answer | Callable[[dict[str, Any]], Answer]
"""What `FakeMessagesAPI.add` takes: an answer, or a function of the request body that returns one."""


# --- helpers to write scripts -----------------------------------------------------------------------------------


def say(
    text: str,
    *,
    stop_reason: str | None = "end_turn",
    usage: TokenUsage | None = None,
    delay_s: float = 0.0,
    cut: StreamCut | None = None,
    model: str | None = None,
) -> Reply:
    """A text answer."""
    return Reply(
        content=(Text(text),),
        stop_reason=stop_reason,
        usage=usage or TokenUsage(),
        delay_s=delay_s,
        cut=cut,
        model=model,
    )


def call(
    name: str,
    arguments: Any = None,
    *,
    call_id: str | None = None,
    text: str = "",
    stop_reason: str | None = "tool_use",
    usage: TokenUsage | None = None,
    delay_s: float = 0.0,
    cut: StreamCut | None = None,
) -> Reply:
    """One tool call (with optional preamble text)."""
    use = ToolUse(name, arguments if arguments is not None else {}, id=call_id or new_tool_id())
    return calls(use, text=text, stop_reason=stop_reason, usage=usage, delay_s=delay_s, cut=cut)


def calls(
    *uses: ToolUse,
    text: str = "",
    stop_reason: str | None = "tool_use",
    usage: TokenUsage | None = None,
    delay_s: float = 0.0,
    cut: StreamCut | None = None,
) -> Reply:
    """Several tool calls in one answer, as a model that parallelises sends them."""
    blocks: tuple[Block, ...] = ((Text(text),) if text else ()) + uses
    return Reply(content=blocks, stop_reason=stop_reason, usage=usage or TokenUsage(), delay_s=delay_s, cut=cut)


def system_says(fragment: str) -> Callable[[dict[str, Any]], bool]:
    """A lane predicate: the request's system prompt (a string or text blocks) contains `fragment`."""

    def matches(body: dict[str, Any]) -> bool:
        system = body.get("system", "")
        text = system if isinstance(system, str) else " ".join(str(b.get("text", "")) for b in system)
        return fragment in text

    return matches


def http_error(status: int, message: str = "fake failure", **options: Any) -> HttpError:
    return HttpError(status, message, **options)


def overloaded(*, retry_after: float | str | None = 0.001, **options: Any) -> HttpError:
    """The API's 529, with a tiny `retry-after` so the SDK's retry is immediate."""
    return HttpError(529, "Overloaded", retry_after=retry_after, **options)


# --- the wire format --------------------------------------------------------------------------------------------


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
    groups = [words[i : i + per] for i in range(0, len(words), per)]
    parts = [" ".join(g) for g in groups]
    # Re-attach the separating spaces so the parts concatenate to the original text.
    return [p + " " for p in parts[:-1]] + [parts[-1]]


def message_json(reply: Reply, model: str) -> dict[str, Any]:
    """The non-streamed response body."""
    return {
        "id": reply.id,
        "type": "message",
        "role": "assistant",
        "model": reply.model or model,
        "content": [block.to_json() for block in reply.content],
        "stop_reason": reply.stop_reason,
        "stop_sequence": None,
        "usage": reply.usage.to_json(),
    }


def message_body(reply: Reply, model: str) -> bytes:
    """The non-streamed body as bytes, with any `raw_json` tool input spliced in verbatim."""
    data = message_json(reply, model)
    raw: dict[str, str] = {}
    for index, block in enumerate(reply.content):
        if isinstance(block, ToolUse) and block.raw_json is not None:
            marker = f"__fake_raw_input_{index}__"
            data["content"][index]["input"] = marker
            raw[json.dumps(marker)] = "".join(block.raw_json)
    text = json.dumps(data, ensure_ascii=False)
    for marker, value in raw.items():
        text = text.replace(marker, value)
    return text.encode()


def stream_events(reply: Reply, model: str) -> list[tuple[str, dict[str, Any]]]:
    """The SSE events of a streamed reply, in the API's order, as (event name, data)."""
    usage = reply.usage
    events: list[tuple[str, dict[str, Any]]] = [
        (
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": reply.id,
                    "type": "message",
                    "role": "assistant",
                    "model": reply.model or model,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {
                        "input_tokens": usage.input_tokens,
                        "output_tokens": 1,
                        "cache_read_input_tokens": usage.cache_read_input_tokens,
                        "cache_creation_input_tokens": usage.cache_creation_input_tokens,
                    },
                },
            },
        ),
        ("ping", {"type": "ping"}),
    ]
    for index, block in enumerate(reply.content):
        if isinstance(block, Text):
            start: dict[str, Any] = {"type": "text", "text": ""}
            deltas = [{"type": "text_delta", "text": part} for part in _split_words(block.text, block.pieces)]
        else:
            start = {"type": "tool_use", "id": block.id, "name": block.name, "input": {}}
            deltas = [{"type": "input_json_delta", "partial_json": part} for part in block.json_fragments()]
        events.append(("content_block_start", {"type": "content_block_start", "index": index, "content_block": start}))
        events.extend(
            ("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}) for delta in deltas
        )
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    events.append(
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": reply.stop_reason, "stop_sequence": None},
                "usage": usage.to_json(),
            },
        )
    )
    events.append(("message_stop", {"type": "message_stop"}))
    return events


def sse(event: str, data: Mapping[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


def _chunk(payload: bytes) -> bytes:
    return f"{len(payload):x}\r\n".encode() + payload + b"\r\n"


# --- the server -------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReceivedRequest:
    """One HTTP request as the fake received it. `headers` has lower-case names; `body` is the parsed JSON (None
    if the body was not JSON)."""

    method: str
    path: str
    headers: Mapping[str, str]
    raw_body: bytes
    body: Any

    @property
    def streamed(self) -> bool:
        return isinstance(self.body, dict) and self.body.get("stream") is True

    @property
    def attempt(self) -> int:
        """The SDK's retry count for this request (`x-stainless-retry-count`): 0 for a first attempt."""
        return int(self.headers.get("x-stainless-retry-count", "0"))


class _HungUp(Exception):
    """The client closed the connection while the fake was holding an answer back."""


class FakeMessagesAPI:
    """A scripted Messages API on `127.0.0.1`, on an ephemeral port; use as a context manager (or `start`/`stop`).

    `base_url` is what to give the SDK. `add()` queues replies; `requests` lists what was received, in order.
    """

    def __init__(
        self,
        *replies: Script,
        prompt_cache: bool = False,
        lanes: Mapping[str, Callable[[dict[str, Any]], bool]] | None = None,
    ) -> None:
        self._lanes = dict(lanes or {})
        """Named scripts, each for the requests its predicate accepts (the first that does); the rest use `""`."""
        self._scripts: dict[str, deque[Script]] = {"": deque(replies)} | {name: deque() for name in self._lanes}
        self.cache = PromptCache() if prompt_cache else None
        """With `prompt_cache`, replies report input, cache read and cache write tokens as the request's cache
        breakpoints earn them (see `tests.fakes.prompt_cache`), instead of the scripted usage."""
        self.usages: list[TokenUsage] = []
        """With `prompt_cache`: the usage reported for each answered request, in order."""
        self._lock = threading.Lock()
        self._received: list[ReceivedRequest] = []
        self._arrived = threading.Condition(self._lock)
        self.failures: list[str] = []
        """Requests the script could not answer, and exceptions raised by reply callables."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._connections: dict[asyncio.Task[None], asyncio.StreamWriter] = {}
        self._stopping: asyncio.Event | None = None
        self.port = 0

    # lifecycle

    @property
    def base_url(self) -> str:
        if not self.port:
            raise RuntimeError("the fake API is not running; use it as a context manager or call start()")
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Self:
        ready = threading.Event()
        errors: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, args=(ready, errors), name="fake-anthropic", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the fake Anthropic API did not start within 10 s")
        if errors:
            raise RuntimeError("the fake Anthropic API failed to start") from errors[0]
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if not loop.is_closed():
            # Queued on the server's loop; runs even if `run_forever` has not quite started yet.
            asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(10)
        thread.join(10)
        self._loop = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # the script and what was received

    def add(self, *replies: Script, lane: str = "") -> None:
        with self._lock:
            self._scripts[lane].extend(replies)

    def lane_of(self, body: Any) -> str:
        if isinstance(body, dict):
            return next((name for name, accepts in self._lanes.items() if accepts(body)), "")
        return ""

    @property
    def requests(self) -> list[ReceivedRequest]:
        with self._lock:
            return list(self._received)

    @property
    def bodies(self) -> list[Any]:
        return [r.body for r in self.requests]

    @property
    def remaining(self) -> int:
        with self._lock:
            return sum(len(script) for script in self._scripts.values())

    def wait_for_requests(self, count: int, timeout_s: float = 10.0) -> list[ReceivedRequest]:
        """Block until at least `count` requests have arrived (for tests that must act while a reply is held)."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self._received) >= count, timeout_s):
                raise AssertionError(f"expected {count} requests, got {len(self._received)} within {timeout_s} s")
            return list(self._received)

    def assert_done(self) -> None:
        """Every scripted reply was used, and nothing went wrong inside the fake."""
        with self._lock:
            failures, left = list(self.failures), sum(len(script) for script in self._scripts.values())
        assert not failures, "the fake API could not answer as scripted:\n" + "\n".join(failures)
        assert left == 0, f"{left} scripted replies were never requested"

    # the event loop thread

    def _run(self, ready: threading.Event, errors: list[BaseException]) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            self._stopping = asyncio.Event()
            self._server = loop.run_until_complete(asyncio.start_server(self._accept, "127.0.0.1", 0))
            self.port = int(self._server.sockets[0].getsockname()[1])
        except BaseException as error:  # reported to the starting thread
            errors.append(error)
            ready.set()
            loop.close()
            return
        ready.set()
        try:
            loop.run_forever()
        finally:
            loop.close()

    async def _shutdown(self) -> None:
        """Close the listening socket and every open connection, and let each connection's task end on its own
        (a held answer sees `_stopping`; a read sees end-of-file), then stop the loop."""
        assert self._server is not None and self._stopping is not None and self._loop is not None
        self._stopping.set()
        self._server.close()
        for writer in list(self._connections.values()):
            writer.transport.abort()
        await asyncio.gather(*self._connections, return_exceptions=True)
        await self._server.wait_closed()
        self._loop.call_soon(self._loop.stop)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections[task] = writer
        try:
            while True:
                request = await self._read_request(reader)
                if request is None:
                    break
                if not await self._answer(request, reader, writer):
                    break
        except (_HungUp, ConnectionError, asyncio.IncompleteReadError):
            writer.transport.abort()
        finally:
            del self._connections[task]
            if not writer.transport.is_closing():
                writer.close()

    async def _read_request(self, reader: asyncio.StreamReader) -> ReceivedRequest | None:
        line = await reader.readline()
        if not line.strip():
            return None
        method, target, _version = line.decode("latin-1").split(" ", 2)
        headers: dict[str, str] = {}
        while (header := await reader.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = header.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            raw = b""
            while size := int((await reader.readline()).split(b";")[0], 16):
                raw += await reader.readexactly(size)
                await reader.readexactly(2)
            await reader.readline()
        else:
            raw = await reader.readexactly(int(headers.get("content-length", "0")))
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        request = ReceivedRequest(method, target.split("?")[0], headers, raw, body)
        with self._arrived:
            self._received.append(request)
            self._arrived.notify_all()
        return request

    def _next_answer(self, request: ReceivedRequest) -> Answer:
        number = len(self.requests)
        lane = self.lane_of(request.body)
        with self._lock:
            script = self._scripts[lane]
            scripted = script.popleft() if script else None
        if scripted is None:
            message = f"request #{number} arrived but the script{f' of lane {lane!r}' if lane else ''} is empty"
            with self._lock:
                self.failures.append(message)
            return HttpError(400, f"FakeMessagesAPI: {message}", should_retry=False)
        if callable(scripted):
            try:
                return scripted(request.body if isinstance(request.body, dict) else {})
            except Exception as error:  # reported by assert_done(); the SDK gets an error it does not retry
                message = f"the reply callable for request #{number} raised {type(error).__name__}: {error}"
                with self._lock:
                    self.failures.append(message)
                return HttpError(400, f"FakeMessagesAPI: {message}", should_retry=False)
        return scripted

    async def _answer(
        self, request: ReceivedRequest, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """Answer one request; False when the connection must not be reused."""
        if (request.method, request.path) != ("POST", "/v1/messages"):
            error = HttpError(404, f"{request.method} {request.path} is not part of this fake", should_retry=False)
            await self._send_error(writer, error)
            return True
        answer = self._cached(self._next_answer(request), request)
        await self._hold(answer.delay_s, reader)
        if isinstance(answer, Disconnect):
            writer.transport.abort()
            return False
        if isinstance(answer, HttpError):
            await self._send_error(writer, answer)
            return True
        if isinstance(answer, OddBody):
            await self._send(writer, 200, {"content-type": "application/json"}, answer.body)
            return True
        model = str(request.body.get("model", "claude-fake")) if isinstance(request.body, dict) else "claude-fake"
        if request.streamed:
            return await self._send_stream(writer, reader, answer, model)
        await self._send(writer, 200, {"content-type": "application/json"}, message_body(answer, model))
        return True

    def _cached(self, answer: Answer, request: ReceivedRequest) -> Answer:
        if self.cache is None or not isinstance(answer, Reply) or not isinstance(request.body, dict):
            return answer
        try:
            usage = self.cache.usage(request.body)
        except TooManyBreakpoints as error:
            return HttpError(400, str(error), should_retry=False)
        counted = TokenUsage(
            input_tokens=usage.input_tokens,
            output_tokens=answer.usage.output_tokens,
            cache_read_input_tokens=usage.cache_read_input_tokens,
            cache_creation_input_tokens=usage.cache_creation_input_tokens,
        )
        with self._lock:
            self.usages.append(counted)
        return replace(answer, usage=counted)

    async def _hold(self, delay_s: float, reader: asyncio.StreamReader) -> None:
        """Wait `delay_s`, unless the client hangs up (raise `_HungUp`) or the server stops first."""
        if delay_s <= 0:
            return
        assert self._stopping is not None
        hangup = asyncio.ensure_future(reader.read(1))
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            timeout = None if delay_s == float("inf") else delay_s
            done, _ = await asyncio.wait({hangup, stopping}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            hangup.cancel()
            stopping.cancel()
            # Let the cancelled read finish unwinding, or the next request's read finds it still waiting.
            await asyncio.gather(hangup, stopping, return_exceptions=True)
        if done:
            # Either the client closed the connection (or sent bytes it should not have), or the fake is stopping.
            raise _HungUp

    @staticmethod
    def _head(status: int, headers: Mapping[str, str]) -> bytes:
        lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    async def _send(self, writer: asyncio.StreamWriter, status: int, headers: Mapping[str, str], body: bytes) -> None:
        base = {"request-id": f"req_fake{next(_ids):06d}", "content-length": str(len(body))}
        writer.write(self._head(status, {**base, **headers}) + body)
        await writer.drain()

    async def _send_error(self, writer: asyncio.StreamWriter, error: HttpError) -> None:
        headers = {"content-type": "application/json", **error.headers}
        if error.retry_after is not None:
            headers["retry-after"] = str(error.retry_after)
        if error.retry_after_ms is not None:
            headers["retry-after-ms"] = str(error.retry_after_ms)
        if error.should_retry is not None:
            headers["x-should-retry"] = "true" if error.should_retry else "false"
        await self._send(writer, error.status, headers, json.dumps(error.body()).encode())

    async def _send_stream(
        self, writer: asyncio.StreamWriter, reader: asyncio.StreamReader, reply: Reply, model: str
    ) -> bool:
        head = {
            "request-id": f"req_fake{next(_ids):06d}",
            "content-type": "text/event-stream; charset=utf-8",
            "cache-control": "no-cache",
            "transfer-encoding": "chunked",
        }
        writer.write(self._head(200, head))
        events = stream_events(reply, model)
        cut = reply.cut
        for number, (name, data) in enumerate(events):
            if cut is not None and number == cut.after_events:
                if cut.how == "drop":
                    await writer.drain()
                    writer.transport.abort()
                    return False
                if cut.how == "stall":
                    await writer.drain()
                    await self._hold(float("inf"), reader)
                if cut.how == "error":
                    failure = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
                    writer.write(_chunk(sse("error", failure)))
                break
            writer.write(_chunk(sse(name, data)))
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        return True
