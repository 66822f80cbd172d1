"""The request body the Claude adapter encodes itself: the same JSON the SDK would have sent for the same request,
with the prompt version's prefix encoded once."""

from __future__ import annotations

import json

from anthropic._utils._json import openapi_dumps

from agent.models.claude.body import BodyEncoder, cached_prefix, request_span_attributes

TOOLS = [
    {"name": "get_order_details", "description": "Look up an order", "input_schema": {"type": "object"}},
    {"name": "cancel_order", "description": "Cancel «an» order ✓", "input_schema": {"type": "object"}},
]
FIELDS = {
    "model": "claude-sonnet-4-6",
    "max_tokens": 1024,
    "messages": [{"role": "user", "content": [{"type": "text", "text": "Où est ma commande #W2611340 ?"}]}],
    "thinking": {"type": "enabled", "budget_tokens": 2048},
}


def test_the_body_is_the_json_the_sdk_would_send() -> None:
    body = BodyEncoder().body(FIELDS, "You are the store's assistant.", TOOLS)
    as_sdk = openapi_dumps({**FIELDS, **cached_prefix("You are the store's assistant.", TOOLS)})
    assert json.loads(body) == json.loads(as_sdk)
    assert "Où est ma commande".encode() in body  # characters as they are, as the SDK sends them
    assert b", " not in body and b": " not in body  # compact separators


def test_the_prefix_is_encoded_once_per_tool_list_and_marked_for_the_cache() -> None:
    encoder = BodyEncoder()
    first = encoder.prefix("system", TOOLS)
    assert encoder.prefix("system", TOOLS) is first
    other_tools = [dict(tool) for tool in TOOLS]
    assert encoder.prefix("system", other_tools) is not first  # another list: encoded for itself
    prefix = json.loads("{" + first + "}")
    assert prefix["tools"][-1]["cache_control"] == {"type": "ephemeral"}
    assert "cache_control" not in prefix["tools"][0]
    assert prefix["system"] == [{"type": "text", "text": "system", "cache_control": {"type": "ephemeral"}}]


def test_the_sdk_span_gets_the_request_fields_it_would_have_read() -> None:
    assert request_span_attributes(FIELDS) == {
        "gen_ai.request.model": "claude-sonnet-4-6",
        "gen_ai.request.max_tokens": 1024,
        "anthropic.thinking.type": "enabled",
        "anthropic.thinking.budget_tokens": 2048,
    }
