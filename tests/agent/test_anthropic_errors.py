"""How the provider's refusals are read: a reason for the metric and the health status, and an excerpt of the part
of the request the API's message names, for the ERROR log line."""

from __future__ import annotations

import httpx2
import pytest

from agent.models.claude.adapter import retry_after_s
from agent.models.claude.errors import EXCERPT_CHARS, excerpt, reason_of

PARAMS = {
    "model": "claude-sonnet-5",
    "max_tokens": 9216,
    "system": [{"type": "text", "text": "You are the store's assistant."}],
    "tools": [{"name": "get_order_details", "input_schema": {"type": "object"}}],
    "messages": [
        {"role": "user", "content": [{"type": "text", "text": "where is #W2611340?"}]},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "get_order_details"}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "x" * 5000}]},
    ],
}


@pytest.mark.parametrize(
    ("status", "message", "reason"),
    [
        (
            400,
            "messages.1.content.0.type: Expected `thinking` or `redacted_thinking`, but found `tool_use`.",
            "thinking_blocks_missing",
        ),
        (400, "messages.1.content.0: Invalid `signature` in `thinking` block", "thinking_blocks_changed"),
        (400, "messages: text content blocks must contain non-whitespace text", "empty_text"),
        (
            400,
            "messages.3: all messages must have non-empty content except for the optional final assistant message",
            "empty_message",
        ),
        (
            400,
            "messages.1: `tool_use` ids were found without `tool_result` blocks immediately after: toolu_1.",
            "tool_pairing",
        ),
        (400, "This model does not support assistant message prefill.", "prefill"),
        (
            400,
            "max_tokens: 100000 > 64000, which is the maximum allowed number of output tokens for claude-haiku-4-5",
            "max_tokens",
        ),
        (400, "prompt is too long: 210000 tokens > 200000 maximum", "prompt_too_long"),
        (400, "A maximum of 4 blocks with cache_control may be provided. Found 5.", "cache_breakpoints"),
        (404, "model: claude-sonnet-4.6", "not_found"),
        (413, "Request exceeds the maximum allowed number of bytes.", "request_too_large"),
        (401, "invalid x-api-key", "authentication"),
        (400, "something new", "invalid_request"),
    ],
)
def test_each_refusal_has_a_reason(status: int, message: str, reason: str) -> None:
    assert reason_of(status, message) == reason


def test_the_excerpt_is_the_part_the_refusal_names() -> None:
    shown = excerpt(PARAMS, "messages.1.content.0.type: Expected `thinking` or `redacted_thinking`")
    assert shown == 'messages.1.content.0: {"type": "tool_use", "id": "toolu_1", "name": "get_order_details"}'
    assert excerpt(PARAMS, "tools.0.custom.name: String should match").startswith('tools.0: {"name": "get_order')
    long = excerpt(PARAMS, "messages.2.content.0: unexpected `tool_use_id`")
    assert len(long) <= len("messages.2.content.0: ") + EXCERPT_CHARS


def test_without_a_place_the_excerpt_says_what_the_request_was_made_of() -> None:
    shown = excerpt(PARAMS, "prompt is too long: 210000 tokens > 200000 maximum")
    assert '"messages": 3' in shown and "user:tool_result" in shown and "x" * 100 not in shown


def test_retry_after_is_read_as_the_sdk_reads_it() -> None:
    assert retry_after_s(httpx2.Headers({"retry-after": "90"})) == 90
    assert retry_after_s(httpx2.Headers({"retry-after-ms": "1500", "retry-after": "90"})) == 1.5
    assert retry_after_s(httpx2.Headers({})) is None
    assert (retry_after_s(httpx2.Headers({"retry-after": "Wed, 21 Oct 2099 07:28:00 GMT"})) or 0) > 0
