"""A Messages API request as the bytes that are sent, with the system prompt and the tool list encoded once.

Given a request as keyword arguments, the SDK walks every value of it to copy and prepare it (a Python loop over
each key of every tool's JSON schema) and then encodes it, on every call: about a sixth of the service's CPU per
turn went there, most of it on the thirteen tools' schemas and the system prompt, which are the same on every call
of a prompt version. So the adapter sends the body as JSON it encoded itself: the cached prefix (system prompt and
tools, with their cache breakpoints) encoded once per prompt version and kept, the rest (model, limits, the
conversation) encoded on each call by `basics.json_text` (orjson). The bytes are what the SDK would have sent for the
same request (compact separators, characters as they are); only the key order and the spelling of some numbers
differ, which JSON leaves free.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

from basics import json_text

EPHEMERAL = {"type": "ephemeral"}
MOST_PREFIXES = 64
"""Encoded prefixes kept: one per prompt version and model route in use; a few are live at once."""

_encode = json_text.compact


def cached_prefix(system: str, tools: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """System prompt and tools, with a cache breakpoint after each. Built from the prompt version alone, so the
    prefix is byte-identical every turn and the provider can serve it from cache."""
    marked = [dict(tool) for tool in tools]
    if marked:
        marked[-1] = {**marked[-1], "cache_control": EPHEMERAL}
    return {"system": [{"type": "text", "text": system, "cache_control": EPHEMERAL}], "tools": marked}


class BodyEncoder:
    """Encodes request bodies, keeping each prompt version's prefix as encoded text."""

    def __init__(self) -> None:
        self._prefixes: OrderedDict[tuple[str, int], tuple[Sequence[Mapping[str, Any]], str]] = OrderedDict()

    def prefix(self, system: str, tools: Sequence[Mapping[str, Any]]) -> str:
        """`"system":[…],"tools":[…]`, encoded once for this system prompt and this tool list (the same list
        object: a prompt version's tools are built once and never changed)."""
        key = (system, id(tools))
        kept = self._prefixes.get(key)
        if kept is not None and kept[0] is tools:
            self._prefixes.move_to_end(key)
            return kept[1]
        encoded = _encode(cached_prefix(system, tools))[1:-1]
        self._prefixes[key] = (tools, encoded)  # holding the list keeps its id from being reused
        if len(self._prefixes) > MOST_PREFIXES:
            self._prefixes.popitem(last=False)
        return encoded

    def body(self, fields: Mapping[str, Any], system: str, tools: Sequence[Mapping[str, Any]]) -> bytes:
        """The request: `fields` (model, limits, messages, thinking) and the prompt version's prefix."""
        head = _encode(fields)[:-1]
        return f"{head}{',' if len(head) > 1 else ''}{self.prefix(system, tools)}}}".encode()


def request_span_attributes(fields: Mapping[str, Any]) -> dict[str, Any]:
    """What the SDK's span of `messages.create` reads from a request body it prepared itself: its model, output
    limit and thinking (a body sent as bytes is not read)."""
    thinking = fields.get("thinking") or {}
    attributes = {
        "gen_ai.request.model": fields.get("model"),
        "gen_ai.request.max_tokens": fields.get("max_tokens"),
        "anthropic.thinking.type": thinking.get("type"),
        "anthropic.thinking.budget_tokens": thinking.get("budget_tokens"),
    }
    return {name: value for name, value in attributes.items() if value is not None}
