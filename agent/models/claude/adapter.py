"""Claude through the official SDK: async client, the SDK's own retries, timeouts and spans, prompt caching.

The SDK retries 408/409/429/5xx/529 and connection errors itself, honouring `retry-after`; this adapter adds no
retry of its own (one retry layer per call path). What it adds:
* the request in Messages-API form: the system prompt and tool list marked for caching, the conversation with two
  moving breakpoints, and the model's thinking and `max_tokens` from its row of `agent.models.claude.catalog`
  (checked when the adapter is built, so a setting the API would refuse stops the start-up);
* the answer read whole: thinking, redacted thinking and server tools' blocks are kept as they came (they go back
  unchanged), text blocks without words are dropped (the API refuses them in every later request);
* a deadline for the SDK's retries: a provider asking to be retried later than the run can wait fails the call at
  once (`ModelRetryTooLate`), so the next model of the chain answers while there is time;
* the translation of SDK errors into `agent.errors` (`agent.models.claude.errors`).
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any, Literal, cast

import anthropic
import httpx2
from anthropic import (
    APIRequest,
    APIResponse,
    AsyncAnthropic,
    AsyncAPIResponse,
    AsyncCallNext,
    CallNext,
    DefaultAioHttpClient,
    Middleware,
    OpenTelemetryOptions,
    RequestOptions,
)
from anthropic._base_client import get_platform
from anthropic._constants import RAW_RESPONSE_HEADER
from anthropic.lib._parse._response import ResponseFormatT
from anthropic.lib.streaming._types import ParsedMessageStopEvent
from anthropic.types import Message as ApiMessage
from anthropic.types.parsed_message import ParsedMessage
from opentelemetry.trace import TracerProvider

from agent.errors import ModelProtocolError, ModelRetryTooLate, ModelUnavailable
from agent.models.base import (
    AnswerBlock,
    Message,
    ModelRequest,
    ModelResponse,
    ProviderBlock,
    RedactedThinkingBlock,
    TextBlock,
    TextSink,
    ThinkingBlock,
    ToolUseBlock,
    Usage,
    without_blank_text,
)
from agent.models.claude import catalog as claude_catalog
from agent.models.claude.body import EPHEMERAL, BodyEncoder, cached_prefix, request_span_attributes
from agent.models.claude.errors import translate
from agent.telemetry.recording import records_spans
from tools.store.sanitize import storable_json

STREAM_MODELS: tuple[type, ...] = (
    ParsedMessage[ResponseFormatT],  # type: ignore[valid-type]
    ParsedMessageStopEvent[ResponseFormatT],  # type: ignore[valid-type]
)
"""The SDK's stream names these generic models (parametrised by a type variable) on every event. pydantic keeps
the classes it builds for them in a weak cache, so once a garbage collection has dropped them the next stream
builds them again (a new pydantic model class: about a millisecond of CPU, a few times a turn under load).
Holding them here keeps the cache warm for the life of the process."""

_DEADLINE: ContextVar[float | None] = ContextVar("support_model_deadline", default=None)


def with_history_breakpoints(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The conversation with two moving cache breakpoints: on the last message, so this call's whole prompt is
    written to cache, and on the user message before it, which ended the previous call of this conversation (a
    model answer and one user message came since: a tool result, or the customer's next message). The next call
    therefore reads everything up to this call's end from cache, and this call reads the previous one's, however
    long the conversation grows. With the tools' and the system prompt's, that is the API's limit of four."""
    marked = list(messages)
    users = [i for i, message in enumerate(marked) if message.get("role") == "user"]
    for index in users[-2:]:
        marked[index] = _mark_last_block(marked[index])
    return marked


def _mark_last_block(message: dict[str, Any]) -> dict[str, Any]:
    content = message.get("content")
    if isinstance(content, str):
        content = [{"type": "text", "text": content}]
    if not content:
        return message
    blocks = [dict(block) for block in content]
    blocks[-1] = {**blocks[-1], "cache_control": EPHEMERAL}
    return {**message, "content": blocks}


def with_prefix(fields: dict[str, Any], request: ModelRequest) -> dict[str, Any]:
    """The whole request as keyword arguments: `fields` (`AnthropicModel.request_fields`) and the cached prefix."""
    return {**fields, **cached_prefix(request.system, request.tools)}


def _answer_block(block: Any) -> AnswerBlock:
    kind = block.get("type") if isinstance(block, Mapping) else None
    if kind == "text":
        if not isinstance(text := block.get("text"), str):
            raise ModelProtocolError(f"a text block of the model's answer has no text: {str(block)[:200]}")
        return TextBlock(text)
    if kind == "tool_use":
        return ToolUseBlock(id=block.get("id"), name=block.get("name"), input=block.get("input"))
    if kind == "thinking":
        thinking, signature = block.get("thinking"), block.get("signature")
        if not isinstance(thinking, str) or not isinstance(signature, str):
            raise ModelProtocolError(f"a thinking block of the model's answer is malformed: {str(block)[:200]}")
        return ThinkingBlock(thinking, signature)
    if kind == "redacted_thinking":
        if not isinstance(data := block.get("data"), str):
            raise ModelProtocolError(f"a redacted thinking block has no data: {str(block)[:200]}")
        return RedactedThinkingBlock(data)
    if not isinstance(kind, str) or not kind:
        raise ModelProtocolError(f"a block of the model's answer has no type: {str(block)[:200]}")
    return ProviderBlock(dict(block))


def to_response(message: Mapping[str, Any], *, prefill: bool = False) -> ModelResponse:
    """An answer from its JSON body (the Messages API's `Message` object); a body that is not a message at all is
    the model's protocol error. `prefill`: whether the model takes an assistant message last."""
    blocks, usage = message.get("content"), message.get("usage") or {}
    if not isinstance(blocks, list) or not isinstance(usage, Mapping):
        raise ModelProtocolError(f"the model's answer is not a message: {str(message)[:200]}")
    content = without_blank_text(_answer_block(block) for block in blocks)
    reason = str(message.get("stop_reason") or "end_turn")
    # A paused turn goes back last as it is only to a model taking prefill, or when it stops inside a server tool.
    as_is = reason != "pause_turn" or prefill or bool(content and isinstance(content[-1], ProviderBlock))
    return ModelResponse(
        content=content,
        stop_reason=reason,
        usage=Usage(
            input_tokens=usage.get("input_tokens") or 0,
            output_tokens=usage.get("output_tokens") or 0,
            cache_read_input_tokens=usage.get("cache_read_input_tokens") or 0,
            cache_creation_input_tokens=usage.get("cache_creation_input_tokens") or 0,
        ),
        model=str(message.get("model")),
        pause_continues_as_is=as_is,
    )


class RetryTooLate(Exception):
    """Raised inside the SDK's retry loop, which lets exceptions of other types through without retrying."""

    def __init__(self, status: int, wait_s: float, left_s: float) -> None:
        super().__init__(f"the model asked to be retried in {wait_s:.0f} s ({status}); the run has {left_s:.0f} s left")
        self.wait_s = wait_s


def retry_after_s(headers: httpx2.Headers) -> float | None:
    """The wait a response asks for (`retry-after-ms`, else `retry-after` in seconds or as a date), as the SDK
    reads it."""
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            return float(value) * scale
        except ValueError:
            parsed = email.utils.parsedate_tz(value)
            if parsed is not None:
                return float(email.utils.mktime_tz(parsed) - time.time())
    return None


class WithinDeadline(Middleware):
    """Runs inside the SDK's retry loop, once per attempt: an answer asking for a wait that would end after the
    run's deadline stops the retries, so the call fails now rather than when the run's time is up."""

    def handle(self, request: APIRequest, call_next: CallNext) -> APIResponse[Any]:
        return call_next(request)

    async def handle_async(self, request: APIRequest, call_next: AsyncCallNext) -> AsyncAPIResponse[Any]:
        response = await call_next(request)
        deadline = _DEADLINE.get()
        http = response.http_response
        if deadline is not None and (http.status_code in (408, 409, 429) or http.status_code >= 500):
            wait = retry_after_s(http.headers)
            left = deadline - time.monotonic()
            if wait is not None and wait > left:
                raise RetryTooLate(http.status_code, wait, left)
        return response


def continues_loop_without_thinking(messages: list[Message]) -> bool:
    """Whether the request continues a tool loop whose answer began without thinking (another model's, say): with
    thinking on, the API wants that answer to open with a thinking block it does not have."""
    if not messages or messages[-1].role != "user" or not messages[-1].tool_results:
        return False
    answers = [index for index, m in enumerate(messages) if m.role == "assistant"]
    if not answers:
        return False
    first = answers[-1]
    while first - 1 in answers:  # consecutive answers are one turn to the API
        first -= 1
    return not messages[first].opens_with_thinking


class AnthropicModel:
    provider = "anthropic"

    def __init__(
        self,
        model: str,
        *,
        client: AsyncAnthropic | None = None,
        api_key: str | None = None,
        base_url: str | None = None,
        max_retries: int = 2,
        timeout_s: float = 30.0,
        tracer_provider: TracerProvider | None = None,
        thinking: str | int | None = None,
        answer_tokens: int = 1024,
    ) -> None:
        self.name = model
        self.plan = claude_catalog.plan(model, thinking, answer_tokens)
        # The SDK's own span is the run's `chat` span; it becomes a child of the run span because that is current.
        # A no-op provider (tracing off) records no span, so there is nothing to put the conversation id on.
        self._traced = tracer_provider is not None and records_spans(tracer_provider)
        telemetry: OpenTelemetryOptions | Literal[False] | None = None  # None: the OTEL_* environment decides
        if tracer_provider is not None:
            # Tracing off: no spans at all, rather than spans that record nothing but whose attributes the SDK
            # still builds from every request.
            telemetry = {"tracer_provider": tracer_provider} if self._traced else False
        self.client = client or AsyncAnthropic(
            api_key=api_key,
            base_url=base_url,
            max_retries=max_retries,
            timeout=timeout_s,
            open_telemetry=telemetry,
            # The SDK's aiohttp transport: under load its default (httpx over anyio) spent about a sixth of the
            # service's CPU moving bytes, twice a turn (`benchmarks/throughput.py`).
            http_client=DefaultAioHttpClient(),
            middleware=[WithinDeadline()],
        )
        self._bodies = BodyEncoder()

    def request_params(self, request: ModelRequest) -> dict[str, Any]:
        """The Messages API request for `request`: what is sent, and what a refusal's excerpt is cut from."""
        return with_prefix(self.request_fields(request), request)

    def request_fields(self, request: ModelRequest) -> dict[str, Any]:
        """The request without its cached prefix (system prompt and tools): what changes from call to call."""
        plan = self.plan
        thinking, room = plan.thinking, plan.room
        if plan.thinks and continues_loop_without_thinking(request.messages):
            if not plan.can_stop_thinking:
                raise ModelProtocolError(f"{self.name} always thinks and cannot finish a tool loop begun without it")
            thinking, room = {"type": "disabled"}, 0
        params: dict[str, Any] = {
            "model": self.name,
            "max_tokens": min(request.max_tokens + room, plan.model.max_output),
            # Whatever the history holds (a customer's lone surrogate, a tool result's odd text), the request must
            # be encodable: a request the SDK cannot send is our input's fault, not the provider's.
            "messages": with_history_breakpoints(storable_json([m.to_json() for m in request.messages])),
        }
        if thinking is not None:
            params["thinking"] = thinking
        return params

    async def complete(self, request: ModelRequest, *, on_text: TextSink | None = None) -> ModelResponse:
        fields = self.request_fields(request)
        deadline = _DEADLINE.set(request.deadline)
        try:
            if on_text is None:
                message = await self._answer(fields, request)
            else:
                client = await self._streaming_client_for(request.conversation_id)
                async with client.messages.stream(**with_prefix(fields, request)) as stream:
                    async for text in stream.text_stream:
                        await on_text(text)
                    message = (await stream.get_final_message()).to_dict()
        except RetryTooLate as error:
            raise ModelRetryTooLate(str(error), error.wait_s) from error
        except (anthropic.AnthropicError, httpx2.TransportError, ValueError) as error:
            raise translate(error, with_prefix(fields, request)) from error
        finally:
            _DEADLINE.reset(deadline)
        if message.get("stop_reason") is None:
            # A stream whose body ended before `message_delta`: the SDK hands back what had arrived, unfinished.
            raise ModelUnavailable("the answer ended before the model finished it (no stop reason)")
        return to_response(message, prefill=self.plan.model.prefill)

    async def _answer(self, fields: dict[str, Any], request: ModelRequest) -> Mapping[str, Any]:
        """One call, not streamed, through the SDK's `post` (its retries, timeouts, middleware and span) with the
        body this adapter encoded (`agent.models.claude.body`), read back as JSON, not as the SDK's `Message`: the
        loop reads a few fields of it, and building the typed model (a walk over its type annotations) cost about a
        sixth of the SDK's CPU per call. The span is named and described as `messages.create` names its own, and
        carries the conversation id as a call's own span attributes: the SDK lets them override the client's, so
        the one client serves every conversation (a copy of it per call cost about 27 microseconds)."""
        options: dict[str, Any] = {
            "headers": {RAW_RESPONSE_HEADER: "raw"},  # what `with_raw_response` sets: the response comes back as is
            "span_name": "anthropic.messages.create",
            "span_route": "/v1/messages",
        }
        if self._traced:
            options["span_attributes"] = {
                **request_span_attributes(fields),
                "gen_ai.conversation.id": request.conversation_id,
            }
        answered = cast(
            AsyncAPIResponse[ApiMessage],
            await self.client.post(
                "/v1/messages",
                cast_to=ApiMessage,
                content=self._bodies.body(fields, request.system, request.tools),
                options=cast(RequestOptions, options),  # with the span's fields, which the SDK's own methods pass
            ),
        )
        message: Any = await answered.json()
        if not isinstance(message, Mapping):
            raise ModelProtocolError(f"the model's answer is not a message: {str(message)[:200]}")
        return message

    async def _streaming_client_for(self, conversation_id: str) -> AsyncAnthropic:
        """The link's one client, or, when its spans are recorded, a copy that puts the conversation id on the
        SDK's span (it is not sent to the API): `messages.stream` takes no span attributes of its own. A copy starts
        without the platform data the SDK resolves in a worker thread on its first request, so it is handed the data
        this client already resolved: one thread hop per process, not one per model call."""
        if not self._traced:
            return self.client
        options: OpenTelemetryOptions = {**self.client.open_telemetry, "conversation_id": conversation_id}
        copy = self.client.with_options(open_telemetry=options)
        if self.client._platform is None:
            self.client._platform = await asyncio.to_thread(get_platform)
        copy._platform = self.client._platform
        return copy

    async def close(self) -> None:
        await self.client.close()
