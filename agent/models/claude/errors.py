"""What the SDK raises, as the loop understands it: a failure of the provider, or a request the provider refused.

A refusal (a 4xx other than 429) means the service built a request the Messages API does not accept: a defect of
ours, never something to absorb quietly. It becomes `ModelRejected` with a reason (for the metric and the health
status) and an excerpt of the part of the request the API's message names (for the ERROR log line), so the person
on call sees what was refused without the whole conversation. A prompt over the model's context window (or a
request over the size limit) is `PromptTooLong`, which the loop answers by shortening the history once.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import anthropic
import httpx2

from agent.errors import ModelError, ModelProtocolError, ModelRejected, ModelTimeout, ModelUnavailable, PromptTooLong

EXCERPT_CHARS = 400
_PLACE = re.compile(r"\b(messages|tools|system)((?:\.(?:\d{1,6}|content))*)")

REASONS: tuple[tuple[str, str], ...] = (
    ("prompt is too long", "prompt_too_long"),
    ("Expected `thinking` or `redacted_thinking`", "thinking_blocks_missing"),
    ("in `thinking` block", "thinking_blocks_changed"),
    ("in `redacted_thinking` block", "thinking_blocks_changed"),
    ("non-whitespace text", "empty_text"),
    ("must be non-empty", "empty_text"),
    ("non-empty content", "empty_message"),
    ("`tool_use` ids", "tool_pairing"),
    ("`tool_use_id`", "tool_pairing"),
    ("prefill", "prefill"),
    ("thinking.", "thinking_config"),
    ("adaptive thinking", "thinking_config"),
    ("budget_tokens", "thinking_config"),
    ("max_tokens", "max_tokens"),
    ("cache_control", "cache_breakpoints"),
    ("should match pattern", "malformed_name"),
    ("Extra inputs", "unknown_field"),
)
"""The API's messages, by the part each names (checked in order, first match wins; substring checks only)."""
STATUS_REASONS = {401: "authentication", 403: "permission", 404: "not_found", 413: "request_too_large"}


def reason_of(status: int, message: str) -> str:
    for fragment, reason in REASONS:
        if fragment in message:
            return reason
    return STATUS_REASONS.get(status, "invalid_request")


def excerpt(params: Mapping[str, Any], message: str) -> str:
    """The part of the request the API's message points at (`messages.3.content.0`, `tools.2`, `system`), as
    compact JSON cut to `EXCERPT_CHARS`; without a place, what the request was made of."""
    found = _PLACE.search(message)
    if found:
        value: Any = params.get(found.group(1))
        for step in (found.group(2) or "").strip(".").split("."):
            if step.isdigit() and isinstance(value, list) and int(step) < len(value):
                value = value[int(step)]
            elif step == "content" and isinstance(value, dict):
                value = value.get("content")
            elif step:
                break
        if isinstance(value, str) and found.group(1) == "system":
            value = {"system": value}
        shown = json.dumps(value, ensure_ascii=False, default=str)
        return f"{found.group(0)}: {shown[:EXCERPT_CHARS]}"
    messages = params.get("messages") or []
    roles = [f"{m.get('role')}:{'+'.join(_kinds(m.get('content')))}" for m in messages[-4:] if isinstance(m, dict)]
    summary = {
        "model": params.get("model"),
        "max_tokens": params.get("max_tokens"),
        "thinking": params.get("thinking"),
        "messages": len(messages),
        "last_messages": roles,
    }
    return json.dumps(summary, default=str)[:EXCERPT_CHARS]


def _kinds(content: Any) -> list[str]:
    if isinstance(content, str):
        return ["text"]
    return [str(block.get("type")) for block in content or [] if isinstance(block, dict)]


def api_message(error: anthropic.APIStatusError) -> str:
    body = error.body
    if isinstance(body, Mapping):
        inner = body.get("error")
        if isinstance(inner, Mapping) and isinstance(inner.get("message"), str):
            return str(inner["message"])
    return str(error.message)


def translate(error: Exception, params: Mapping[str, Any] | None = None) -> ModelError:
    """SDK errors as the loop understands them. Anything else is a bug and is not caught.

    The SDK wraps transport failures in `APIConnectionError` only until the response starts; once a stream is
    being read, a stalled or dropped connection surfaces as the HTTP client's (httpx2) own exception. An `error`
    event in the middle of a stream arrives as an `APIStatusError` of the stream's own 200 response."""
    if isinstance(error, anthropic.APITimeoutError | httpx2.TimeoutException):
        return ModelTimeout(f"the model did not answer in time: {error}")
    if isinstance(error, anthropic.APIConnectionError):
        return ModelUnavailable(f"could not reach the model: {error}")
    if isinstance(error, httpx2.TransportError):
        return ModelUnavailable(f"the answer was cut off: {error}")
    if isinstance(error, anthropic.APIStatusError):
        status = error.status_code
        message = api_message(error)
        if 400 <= status < 500 and status not in (408, 409, 429):  # the SDK retries those: the provider's state
            reason = reason_of(status, message)
            refused = PromptTooLong if reason in ("prompt_too_long", "request_too_large") else ModelRejected
            shown = excerpt(params or {}, message)
            return refused(
                f"the model refused the request ({status}): {message}", status=status, reason=reason, excerpt=shown
            )
        return ModelUnavailable(f"the model failed ({status}): {message}")
    if isinstance(error, json.JSONDecodeError | anthropic.APIResponseValidationError | ValueError):
        return ModelProtocolError(f"the model's response could not be read: {error}")
    return ModelUnavailable(f"the model call failed: {error}")
