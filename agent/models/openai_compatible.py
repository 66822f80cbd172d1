"""Any OpenAI-compatible chat-completions endpoint (vLLM, Ollama, OpenAI) over httpx, as a fallback link.

Retries live here, in one layer: tenacity retries 429, 5xx and connection failures with exponential backoff,
honouring `Retry-After`; every attempt has a hard timeout. Requests and answers are translated between the
Messages-API shape the loop speaks and the chat-completions shape the endpoint speaks.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential
from tenacity.wait import wait_base

from agent.errors import ModelProtocolError, ModelTimeout, ModelUnavailable
from agent.models.base import (
    Message,
    ModelRequest,
    ModelResponse,
    TextBlock,
    TextSink,
    ToolResultBlock,
    ToolUseBlock,
    Usage,
)

FINISH_REASONS = {"stop": "end_turn", "tool_calls": "tool_use", "length": "max_tokens", "content_filter": "refusal"}
RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504, 529})


class _Retryable(Exception):
    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class _HonourRetryAfter(wait_base):
    """Wait what the server asked for (capped), else back off exponentially."""

    def __init__(self, fallback: wait_base, cap_s: float) -> None:
        self.fallback = fallback
        self.cap_s = cap_s

    def __call__(self, retry_state: Any) -> float:
        outcome = retry_state.outcome
        error = outcome.exception() if outcome is not None else None
        if isinstance(error, _Retryable) and error.retry_after_s is not None:
            return min(error.retry_after_s, self.cap_s)
        return float(self.fallback(retry_state))


def to_chat_messages(request: ModelRequest) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{"role": "system", "content": request.system}]
    for message in request.messages:
        out.extend(_chat_messages(message))
    return out


def _chat_messages(message: Message) -> list[dict[str, Any]]:
    if message.role == "assistant":
        entry: dict[str, Any] = {"role": "assistant", "content": message.text or None}
        if message.tool_uses:
            entry["tool_calls"] = [
                {"id": u.id, "type": "function", "function": {"name": u.name, "arguments": json.dumps(u.input)}}
                for u in message.tool_uses
            ]
        return [entry]
    out: list[dict[str, Any]] = [
        {"role": "tool", "tool_call_id": b.tool_use_id, "content": b.content}
        for b in message.content
        if isinstance(b, ToolResultBlock)
    ]
    if message.text:
        out.append({"role": "user", "content": message.text})
    return out


def to_chat_tools(request: ModelRequest) -> list[dict[str, Any]]:
    return [
        {
            "type": "function",
            "function": {"name": t["name"], "description": t.get("description", ""), "parameters": t["input_schema"]},
        }
        for t in request.tools
    ]


def from_chat_completion(body: dict[str, Any], fallback_model: str) -> ModelResponse:
    try:
        choice = body["choices"][0]
        message = choice["message"]
    except (KeyError, IndexError, TypeError) as error:
        raise ModelProtocolError(f"the endpoint's answer has no choices: {error}") from error
    content: list[TextBlock | ToolUseBlock] = []
    if message.get("content"):
        content.append(TextBlock(str(message["content"])))
    for tool_call in message.get("tool_calls") or []:
        function = tool_call.get("function", {})
        raw = function.get("arguments") or "{}"
        try:
            arguments: Any = json.loads(raw)
        except ValueError:
            arguments = raw  # the gate rejects it as invalid arguments, and the model is told why
        content.append(ToolUseBlock(id=str(tool_call.get("id")), name=str(function.get("name")), input=arguments))
    usage = body.get("usage") or {}
    reason = FINISH_REASONS.get(str(choice.get("finish_reason")), "end_turn")
    if reason == "end_turn" and any(isinstance(b, ToolUseBlock) for b in content):
        reason = "tool_use"
    return ModelResponse(
        content=tuple(content),
        stop_reason=reason,
        usage=Usage(int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0))),
        model=str(body.get("model") or fallback_model),
    )


class OpenAICompatibleModel:
    provider = "openai_compatible"

    def __init__(
        self,
        model: str,
        *,
        base_url: str,
        api_key: str | None = None,
        timeout_s: float = 30.0,
        max_attempts: int = 3,
        backoff_s: float = 0.5,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.name = model
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.client = client or httpx.AsyncClient(base_url=base_url.rstrip("/") + "/", headers=headers)
        self.timeout = httpx.Timeout(timeout_s)
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self.attempts = 0
        """Requests sent so far, retries included (for tests and metrics)."""

    async def complete(self, request: ModelRequest, *, on_text: TextSink | None = None) -> ModelResponse:
        payload = {
            "model": self.name,
            "max_tokens": request.max_tokens,
            "messages": to_chat_messages(request),
            "tools": to_chat_tools(request),
        }
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.max_attempts),
            wait=_HonourRetryAfter(wait_exponential(multiplier=self.backoff_s, max=8), cap_s=10),
            retry=retry_if_exception(lambda e: isinstance(e, _Retryable)),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    body = await self._post(payload)
        except _Retryable as error:
            raise ModelUnavailable(f"the endpoint kept failing: {error}") from error
        response = from_chat_completion(body, self.name)
        if on_text is not None and response.text:
            await on_text(response.text)
        return response

    async def _post(self, payload: dict[str, Any]) -> dict[str, Any]:
        self.attempts += 1
        try:
            answer = await self.client.post("chat/completions", json=payload, timeout=self.timeout)
        except httpx.TimeoutException as error:
            raise ModelTimeout(f"the endpoint did not answer in time: {error}") from error
        except httpx.TransportError as error:
            raise _Retryable(f"could not reach the endpoint: {error}") from error
        if answer.status_code in RETRYABLE_STATUS:
            retry_after = answer.headers.get("retry-after")
            seconds = float(retry_after) if retry_after and retry_after.replace(".", "", 1).isdigit() else None
            raise _Retryable(f"HTTP {answer.status_code}", seconds)
        if answer.status_code >= 400:
            raise ModelProtocolError(f"the endpoint rejected the request ({answer.status_code}): {answer.text[:300]}")
        try:
            body: dict[str, Any] = answer.json()
        except ValueError as error:
            raise ModelProtocolError(f"the endpoint's answer is not JSON: {error}") from error
        return body

    async def close(self) -> None:
        await self.client.aclose()
