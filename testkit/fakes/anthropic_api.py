"""A local stand-in for the Anthropic Messages API that speaks its wire protocol and applies its request rules, for
the official SDK to call.

Why a fake server rather than a mocked client: the adapter's job is to drive the real SDK (request shape, prompt
caching markers, streaming accumulation, retries, `retry-after`, timeouts, the mapping of HTTP statuses to
exception classes), and a mock would replace exactly the code under test. Pointing `AsyncAnthropic(base_url=...)`
at this server keeps the whole SDK in the path while the test decides, reply by reply, what "the model" answers.

Why strict: a stand-in that accepts what the real API refuses lets the service ship requests that fail in
production. Every request is checked against the API's rules first (`testkit.fakes.messages_rules`: roles, empty and
whitespace-only text, tool_use/tool_result pairing, thinking blocks passed back unchanged, prefill, the model's
limits, cache breakpoints, request size) and a request that breaks one is refused with the API's status and message,
without using a scripted reply. A fake that saw a refusal and was not told to expect one fails the test when it
stops (`expect_refusals`), so a test cannot pass while the service sends what the API would refuse.

Why raw HTTP/1.1 on asyncio instead of an ASGI app: several faults worth testing live below HTTP semantics (a
dropped connection, a stream cut mid-way); here the test controls every byte. The server runs on its own event loop
in a daemon thread, so it works from sync and async tests alike.

What it speaks:

* `POST /v1/messages` with a JSON body. Without `"stream": true` the answer is one JSON `message`; with it, a
  `text/event-stream` of the API's events (`testkit.fakes.messages_wire`).
* Thinking as the model does it: on a request with thinking on (explicitly, or by the model's default,
  `testkit.fakes.claude_models`) every answer starts with a thinking block, sealed for that request
  (`testkit.fakes.thinking_seal`), with an empty `thinking` text on models whose display default is `omitted`.
* Errors as the API shapes them: `{"type": "error", "error": {"type": ..., "message": ...}}`, with a `request-id`
  header and optionally `retry-after` / `retry-after-ms`; `error` events in the middle of a stream.
* With `prompt_cache`, usage counted as the request's cache breakpoints earn it (`testkit.fakes.prompt_cache`).

How a test uses it::

    with FakeMessagesAPI() as api:
        api.add(call("get_order_details", {"order_id": "#W1"}), say("It shipped."))
        model = AnthropicModel("claude-sonnet-4-6", api_key="test", base_url=api.base_url)
        ...
        assert api.requests[1].body["messages"][-1]["content"][0]["type"] == "tool_result"
        api.assert_done()

Replies are consumed in order, one per request the rules let through (a retried request consumes the next reply:
script `overloaded(), say("hi")` to see a retry succeed). Two models talking through the same fake get a script
each: `FakeMessagesAPI(lanes={"customer": system_says("playing a customer")})` sends requests whose system prompt
matches to the `customer` lane, which `add(..., lane="customer")` scripts. A reply may be a callable taking the
request body. A request arriving when the script is empty is answered with a non-retryable 400 and recorded as a
failure, which `assert_done()` reports, as it reports exceptions raised by reply callables.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from types import TracebackType
from typing import Any, Self

from testkit.fakes.claude_models import MODELS
from testkit.fakes.messages_rules import MAX_REQUEST_BYTES, Checked, Refusal, Refused, check
from testkit.fakes.messages_wire import (
    Answer,
    Disconnect,
    HttpError,
    OddBody,
    RedactedThinking,
    Reply,
    ServerToolResult,
    StreamCut,
    Text,
    Thinking,
    TokenUsage,
    ToolUse,
    chunk,
    message_body,
    message_json,
    new_id,
    new_tool_id,
    server_tool_use,
    sse,
    stream_events,
)
from testkit.fakes.model_answers import as_the_model_answers
from testkit.fakes.prompt_cache import PromptCache
from testkit.fakes.raw_http import read_request, send, send_error, status_line_and_headers
from testkit.fakes.scripts import (
    call,
    calls,
    cut_call,
    http_error,
    overloaded,
    paused,
    prompt_too_long,
    rate_limited,
    refusal,
    say,
    searched,
    system_says,
    thought,
    too_large,
    window_full,
)
from testkit.fakes.thinking_seal import Seal

__all__ = [
    "Answer",
    "Disconnect",
    "FakeMessagesAPI",
    "HttpError",
    "OddBody",
    "ReceivedRequest",
    "RedactedThinking",
    "Reply",
    "Script",
    "ServerToolResult",
    "StreamCut",
    "Text",
    "Thinking",
    "TokenUsage",
    "ToolUse",
    "call",
    "calls",
    "chunk",
    "cut_call",
    "http_error",
    "message_body",
    "message_json",
    "new_tool_id",
    "overloaded",
    "paused",
    "prompt_too_long",
    "rate_limited",
    "refusal",
    "say",
    "searched",
    "server_tool_use",
    "sse",
    "stream_events",
    "system_says",
    "thought",
    "too_large",
    "window_full",
]

Script = Answer | Callable[[dict[str, Any]], Answer]
"""What `FakeMessagesAPI.add` takes: an answer, or a function of the request body that returns one."""


@dataclass(frozen=True, slots=True)
class ReceivedRequest:
    """One HTTP request as the fake received it. `headers` has lower-case names; `body` is the parsed JSON (None
    if the body was not JSON); `refusal` is the API's refusal of it, if the rules refused it."""

    method: str
    path: str
    headers: Mapping[str, str]
    raw_body: bytes
    body: Any
    refusal: Refusal | None = None

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
        expect_refusals: bool = False,
        context_windows: Mapping[str, int] | None = None,
        max_request_bytes: int = MAX_REQUEST_BYTES,
    ) -> None:
        self._lanes = dict(lanes or {})
        """Named scripts, each for the requests its predicate accepts (the first that does); the rest use `""`."""
        self._scripts: dict[str, deque[Script]] = {"": deque(replies)} | {name: deque() for name in self._lanes}
        minimums = {model.id: model.min_cacheable_tokens for model in MODELS.values()}
        self.cache = PromptCache(minimums) if prompt_cache else None
        """With `prompt_cache`, replies report input, cache read and cache write tokens as the request's cache
        breakpoints earn them (see `testkit.fakes.prompt_cache`), instead of the scripted usage."""
        self.sent: list[Reply] = []
        """Every reply the fake answered with, as sent (sealed thinking and all), in order."""
        self.usages: list[TokenUsage] = []
        """With `prompt_cache`: the usage reported for each answered request, in order."""
        self._lock = threading.Lock()
        self._received: list[ReceivedRequest] = []
        self._arrived = threading.Condition(self._lock)
        self.failures: list[str] = []
        """Requests the script could not answer, and exceptions raised by reply callables."""
        self.expect_refusals = expect_refusals
        """Whether the test means to send requests the API refuses; otherwise a refusal fails it (`stop`)."""
        self.context_windows = dict(context_windows or {})
        """Smaller context windows for some models, so a test can overflow one without sending a million tokens."""
        self.max_request_bytes = max_request_bytes
        self.seal = Seal()
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
        if exc_type is None and not self.expect_refusals:
            self.assert_no_refusals()

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

    @property
    def refusals(self) -> list[Refusal]:
        """The API's refusals of the requests that broke its rules, in order."""
        return [r.refusal for r in self.requests if r.refusal is not None]

    def assert_no_refusals(self) -> None:
        refused = self.refusals
        assert not refused, "the Messages API would refuse requests the service sent:\n" + "\n".join(
            f"{r.status} {r.error_type}: {r.message}" for r in refused
        )

    def assert_done(self) -> None:
        """Every scripted reply was used, nothing went wrong inside the fake, and (unless refusals are expected)
        every request was one the API accepts."""
        with self._lock:
            failures, left = list(self.failures), sum(len(script) for script in self._scripts.values())
        assert not failures, "the fake API could not answer as scripted:\n" + "\n".join(failures)
        assert left == 0, f"{left} scripted replies were never requested"
        if not self.expect_refusals:
            self.assert_no_refusals()

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
                received = await self._read_request(reader)
                if received is None:
                    break
                if not await self._answer(*received, reader, writer):
                    break
        except (_HungUp, ConnectionError, asyncio.IncompleteReadError):
            writer.transport.abort()
        finally:
            del self._connections[task]
            if not writer.transport.is_closing():
                writer.close()

    async def _read_request(self, reader: asyncio.StreamReader) -> tuple[ReceivedRequest, Checked | None] | None:
        received = await read_request(reader)
        if received is None:
            return None
        method, path, headers, raw = received
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        checked, refusal = None, None
        if (method, path) == ("POST", "/v1/messages"):
            try:
                checked = check(
                    body,
                    len(raw),
                    seal=self.seal,
                    max_bytes=self.max_request_bytes,
                    context_windows=self.context_windows,
                )
            except Refused as refused:
                refusal = refused.refusal
        request = ReceivedRequest(method, path, headers, raw, body, refusal)
        with self._arrived:
            self._received.append(request)
            self._arrived.notify_all()
        return request, checked

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
        self,
        request: ReceivedRequest,
        checked: Checked | None,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> bool:
        """Answer one request; False when the connection must not be reused."""
        if (request.method, request.path) != ("POST", "/v1/messages"):
            error = HttpError(404, f"{request.method} {request.path} is not part of this fake", should_retry=False)
            await send_error(writer, error)
            return True
        if request.refusal is not None or checked is None:
            refused = request.refusal or Refusal(400, "unreadable request")
            await send_error(writer, HttpError(refused.status, refused.message, refused.error_type))
            return True
        answer = self._next_answer(request)
        if isinstance(answer, Reply):
            answer = self._cached(as_the_model_answers(answer, request.body, checked, self.seal), request)
            with self._lock:
                self.sent.append(answer)
        await self._hold(answer.delay_s, reader)
        if isinstance(answer, Disconnect):
            writer.transport.abort()
            return False
        if isinstance(answer, HttpError):
            await send_error(writer, answer)
            return True
        if isinstance(answer, OddBody):
            await send(writer, 200, {"content-type": "application/json"}, answer.body)
            return True
        model = str(request.body.get("model", "claude-fake")) if isinstance(request.body, dict) else "claude-fake"
        if request.streamed:
            return await self._send_stream(writer, reader, answer, model)
        await send(writer, 200, {"content-type": "application/json"}, message_body(answer, model))
        return True

    def _cached(self, answer: Reply, request: ReceivedRequest) -> Reply:
        if self.cache is None or not isinstance(request.body, dict):
            return answer
        usage = self.cache.usage(request.body)
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

    async def _send_stream(
        self, writer: asyncio.StreamWriter, reader: asyncio.StreamReader, reply: Reply, model: str
    ) -> bool:
        head = {
            "request-id": new_id("req_fake"),
            "content-type": "text/event-stream; charset=utf-8",
            "cache-control": "no-cache",
            "transfer-encoding": "chunked",
        }
        writer.write(status_line_and_headers(200, head))
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
                    failure = {"type": "error", "error": {"type": cut.error_type, "message": cut.error_message}}
                    writer.write(chunk(sse("error", failure)))
                break
            writer.write(chunk(sse(name, data)))
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        return True
