"""Prompt-cache accounting for the fake Messages API, consistent with the cache breakpoints a request carries.

The real API caches the request prefix (tools, then system, then messages, in that order) up to each block
marked `cache_control`, at most four per request. A later request reads from cache the longest prefix it shares
with one written before, found at one of its own breakpoints or up to `LOOKBACK` blocks before one. Whatever
follows the hit, up to the request's last breakpoint, is written to cache; the rest is plain input.

This does the same with estimated tokens (4 characters each), so a test or benchmark sees the cache read and
write tokens a client's breakpoints would earn: a client that marks only the tools and the system prompt gets
their share cached and no more, however long the conversation grows.

Caches are per model, and a prefix shorter than the model's minimum cacheable length is neither written nor read
(build-with-claude/prompt-caching, "Cache limitations": 4096 tokens for Claude Haiku 4.5, Opus 4.5 and 4.6, 1024
for the Sonnet 4.x models; "shorter prompts cannot be cached, even if marked with cache_control"). Both matter to
a service that sends some turns to another model: a conversation that moves between models does not read the
other model's cache, and a cheap model with a high minimum may cache nothing of a short prompt.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

LOOKBACK = 20
"""Block boundaries before a breakpoint at which the API still looks for an earlier cache entry."""
MAX_BREAKPOINTS = 4
MINIMUM_CACHEABLE = {
    "claude-haiku-4-5": 4096,
    "claude-opus-4-5": 4096,
    "claude-opus-4-6": 4096,
    "claude-sonnet-4": 1024,
}
"""Minimum cacheable prompts, in tokens, by model id prefix. A model not named here caches a prompt of any length
(the fake's tests script short prompts)."""


def minimum_for(model: str) -> int:
    return next((tokens for prefix, tokens in MINIMUM_CACHEABLE.items() if model.startswith(prefix)), 0)


class TooManyBreakpoints(ValueError):
    """The API refuses a request with more than four `cache_control` blocks (a 400)."""


@dataclass(frozen=True, slots=True)
class CacheUsage:
    input_tokens: int
    cache_read_input_tokens: int
    cache_creation_input_tokens: int


def prefix_blocks(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The request's cacheable blocks in prefix order: each tool, each system block, each message's blocks."""
    blocks: list[dict[str, Any]] = [dict(tool) for tool in body.get("tools", [])]
    system = body.get("system") or []
    blocks += [{"type": "text", "text": system}] if isinstance(system, str) else [dict(b) for b in system]
    for message in body.get("messages", []):
        content = message.get("content")
        if isinstance(content, str):
            blocks.append({"role": message.get("role"), "type": "text", "text": content})
        else:
            blocks += [{"role": message.get("role"), **block} for block in content or []]
    return blocks


def tokens(block: dict[str, Any]) -> int:
    shown = {k: v for k, v in block.items() if k != "cache_control"}
    return max(1, len(json.dumps(shown, sort_keys=True)) // 4)


class PromptCache:
    """What has been written to cache so far, keyed by a hash of the prefix (the blocks without their markers)."""

    def __init__(self) -> None:
        self.written: set[str] = set()

    def usage(self, body: dict[str, Any]) -> CacheUsage:
        blocks = prefix_blocks(body)
        marks = [i for i, block in enumerate(blocks) if "cache_control" in block]
        if len(marks) > MAX_BREAKPOINTS:
            raise TooManyBreakpoints(f"{len(marks)} blocks have cache_control; at most {MAX_BREAKPOINTS} are allowed")
        sizes = [tokens(block) for block in blocks]
        before = [0]
        for size in sizes:
            before.append(before[-1] + size)
        minimum = minimum_for(str(body.get("model")))
        hashes = _prefix_hashes(blocks, str(body.get("model")))
        read_end = 0
        for mark in marks:
            for end in range(mark + 1, max(0, mark + 1 - LOOKBACK), -1):
                if hashes[end] in self.written and before[end] >= minimum:
                    read_end = max(read_end, end)
                    break
        cacheable = [mark + 1 for mark in marks if before[mark + 1] >= minimum]
        for end in cacheable:
            self.written.add(hashes[end])
        write_end = max(cacheable, default=0)
        read = before[read_end]
        written = before[write_end] - read if write_end > read_end else 0
        return CacheUsage(before[-1] - read - written, read, written)


def _prefix_hashes(blocks: list[dict[str, Any]], model: str) -> list[str]:
    """hashes[n] identifies the first n blocks in `model`'s cache (cache markers left out: they are not content)."""
    digest = hashlib.sha256(model.encode())
    hashes = [digest.hexdigest()]
    for block in blocks:
        shown = {k: v for k, v in block.items() if k != "cache_control"}
        digest.update(json.dumps(shown, sort_keys=True).encode())
        hashes.append(digest.copy().hexdigest())
    return hashes
