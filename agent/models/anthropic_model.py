"""Claude through the official SDK: async client, the SDK's own retries, timeouts and spans, prompt caching.

The SDK retries 408/409/429/5xx/529 and connection errors itself, honouring `retry-after`; this adapter adds
no retry of its own (one retry layer per call path). What it adds: the request in Messages-API form with the
system prompt and tool list marked for caching, and the translation of SDK errors into `agent.errors`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

import anthropic
import httpx2
from anthropic import AsyncAnthropic, DefaultAioHttpClient, OpenTelemetryOptions
from anthropic._base_client import get_platform
from anthropic.lib._parse._response import ResponseFormatT
from anthropic.lib.streaming._types import ParsedMessageStopEvent
from anthropic.types.parsed_message import ParsedMessage
from opentelemetry import trace
from opentelemetry.trace import TracerProvider

from agent.errors import ModelError, ModelProtocolError, ModelTimeout, ModelUnavailable
from agent.models.base import ModelRequest, ModelResponse, TextBlock, TextSink, ToolUseBlock, Usage
from tools.store.sanitize import clean_json

STREAM_MODELS: tuple[type, ...] = (
    ParsedMessage[ResponseFormatT],  # type: ignore[valid-type]
    ParsedMessageStopEvent[ResponseFormatT],  # type: ignore[valid-type]
)
"""The SDK's stream names these generic models (parametrised by a type variable) on every event. pydantic keeps
the classes it builds for them in a weak cache, so once a garbage collection has dropped them the next stream
builds them again (a new pydantic model class: about a millisecond of CPU, a few times a turn under load).
Holding them here keeps the cache warm for the life of the process."""

EPHEMERAL = {"type": "ephemeral"}


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


def cached_prefix(request: ModelRequest) -> dict[str, Any]:
    """System prompt and tools, with a cache breakpoint after each. Built from constants and the stable tool
    list only, so the prefix is byte-identical every turn and the provider can serve it from cache."""
    tools = [dict(tool) for tool in request.tools]
    if tools:
        tools[-1] = {**tools[-1], "cache_control": EPHEMERAL}
    return {"system": [{"type": "text", "text": request.system, "cache_control": EPHEMERAL}], "tools": tools}


def to_response(message: Mapping[str, Any]) -> ModelResponse:
    """An answer from its JSON body (the Messages API's `Message` object). Content blocks of other kinds
    (thinking, server tools) carry nothing the loop acts on and are skipped; a body that is not a message at all is
    the model's protocol error."""
    blocks, usage = message.get("content"), message.get("usage") or {}
    if not isinstance(blocks, list) or not isinstance(usage, Mapping):
        raise ModelProtocolError(f"the model's answer is not a message: {str(message)[:200]}")
    content: list[TextBlock | ToolUseBlock] = []
    for block in blocks:
        kind = block.get("type") if isinstance(block, Mapping) else None
        if kind == "text":
            if not isinstance(text := block.get("text"), str):
                raise ModelProtocolError(f"a text block of the model's answer has no text: {str(block)[:200]}")
            content.append(TextBlock(text))
        elif kind == "tool_use":
            content.append(ToolUseBlock(id=block.get("id"), name=block.get("name"), input=block.get("input")))
    return ModelResponse(
        content=tuple(content),
        stop_reason=str(message.get("stop_reason") or "end_turn"),
        usage=Usage(
            input_tokens=usage.get("input_tokens") or 0,
            output_tokens=usage.get("output_tokens") or 0,
            cache_read_input_tokens=usage.get("cache_read_input_tokens") or 0,
            cache_creation_input_tokens=usage.get("cache_creation_input_tokens") or 0,
        ),
        model=str(message.get("model")),
    )


def translate(error: Exception) -> ModelError:
    """SDK errors as the loop understands them. Anything else is a bug and is not caught.

    The SDK wraps transport failures in `APIConnectionError` only until the response starts; once a stream is
    being read, a stalled or dropped connection surfaces as the HTTP client's (httpx2) own exception."""
    if isinstance(error, anthropic.APITimeoutError | httpx2.TimeoutException):
        return ModelTimeout(f"the model did not answer in time: {error}")
    if isinstance(error, anthropic.APIConnectionError):
        return ModelUnavailable(f"could not reach the model: {error}")
    if isinstance(error, httpx2.TransportError):
        return ModelUnavailable(f"the answer was cut off: {error}")
    if isinstance(error, anthropic.APIStatusError):
        if error.status_code in (400, 413, 422):
            return ModelProtocolError(f"the model rejected the request ({error.status_code}): {error.message}")
        return ModelUnavailable(f"the model failed ({error.status_code}): {error.message}")
    if isinstance(error, json.JSONDecodeError | anthropic.APIResponseValidationError | ValueError):
        return ModelProtocolError(f"the model's response could not be read: {error}")
    return ModelUnavailable(f"the model call failed: {error}")


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
    ) -> None:
        self.name = model
        # The SDK's own span is the run's `chat` span; it becomes a child of the run span because that is current.
        telemetry: OpenTelemetryOptions | None = {"tracer_provider": tracer_provider} if tracer_provider else None
        # A no-op provider (tracing off) records no span, so there is nothing to put the conversation id on.
        self._traced = tracer_provider is not None and not isinstance(
            tracer_provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider
        )
        self.client = client or AsyncAnthropic(
            api_key=api_key,
            base_url=base_url,
            max_retries=max_retries,
            timeout=timeout_s,
            open_telemetry=telemetry,
            # The SDK's aiohttp transport: under load its default (httpx over anyio) spent about a sixth of the
            # service's CPU moving bytes, twice a turn (`benchmarks/throughput.py`).
            http_client=DefaultAioHttpClient(),
        )

    async def complete(self, request: ModelRequest, *, on_text: TextSink | None = None) -> ModelResponse:
        params: dict[str, Any] = {
            "model": self.name,
            "max_tokens": request.max_tokens,
            # Whatever the history holds (a customer's lone surrogate, a tool result's odd text), the request must
            # be encodable: a request the SDK cannot send is our input's fault, not the provider's.
            "messages": with_history_breakpoints(clean_json([m.to_json() for m in request.messages])),
            **cached_prefix(request),
        }
        client = await self._client_for(request.conversation_id)
        try:
            if on_text is None:
                # The body as JSON, not as the SDK's `Message`: the loop reads five fields of it, and building the
                # typed model (a walk over its type annotations) cost about a sixth of the SDK's CPU per call.
                answered = await client.messages.with_raw_response.create(**params)
                message: Any = await answered.json()
                if not isinstance(message, Mapping):
                    raise ModelProtocolError(f"the model's answer is not a message: {str(message)[:200]}")
            else:
                async with client.messages.stream(**params) as stream:
                    async for text in stream.text_stream:
                        await on_text(text)
                    message = (await stream.get_final_message()).to_dict()
        except (anthropic.AnthropicError, httpx2.TransportError, ValueError) as error:
            raise translate(error) from error
        if message.get("stop_reason") is None:
            # A stream whose body ended before `message_delta`: the SDK hands back what had arrived, unfinished.
            raise ModelUnavailable("the answer ended before the model finished it (no stop reason)")
        return to_response(message)

    async def _client_for(self, conversation_id: str) -> AsyncAnthropic:
        """The link's one client, or, when its spans are recorded, a copy that puts the conversation id on the
        SDK's span (it is not sent to the API). A copy starts without the platform data the SDK resolves in a
        worker thread on its first request, so it is handed the data this client already resolved: one thread
        hop per process, not one per model call."""
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
