"""Prompt-cache accounting for the fake Messages API, consistent with the cache breakpoints a request carries.

What it models (build-with-claude/prompt-caching):
* the prefix is tools, then system, then messages, in that order, and is cached up to each block marked
  `cache_control` (at most four per request; `testkit.fakes.messages_rules` refuses a fifth);
* a later request reads the longest prefix it shares with one written before, found at one of its own breakpoints or
  up to `LOOKBACK` blocks before one ("the system checks for cache hits at all previous content block boundaries, up
  to 20 blocks before your explicit breakpoint");
* whatever follows the hit, up to the request's last breakpoint, is written; the rest is plain input;
* a prefix shorter than the model's minimum cacheable length is neither written nor read ("shorter prompts cannot be
  cached, even if marked with cache_control");
* caches are per model, and a change of the `thinking` parameters invalidates the cached messages but not the
  tools and system ("What invalidates the cache");
* cache markers are not content: moving a breakpoint does not change what a prefix is.

Tokens are estimated (4 characters each), so a test or benchmark sees the read and write tokens a client's
breakpoints earn: a client that marks only the tools and the system prompt gets their share cached and no more,
however long the conversation grows.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

LOOKBACK = 20
"""Block boundaries before a breakpoint at which the API still looks for an earlier cache entry."""
MAX_BREAKPOINTS = 4
DEFAULT_MINIMUM = 1024


@dataclass(frozen=True, slots=True)
class CacheUsage:
    input_tokens: int
    cache_read_input_tokens: int
    cache_creation_input_tokens: int


def prefix_blocks(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The request's cacheable blocks in prefix order: each tool, each system block, each message's blocks."""
    blocks: list[dict[str, Any]] = [dict(tool) for tool in body.get("tools") or []]
    system = body.get("system") or []
    blocks += [{"type": "text", "text": system}] if isinstance(system, str) else [dict(b) for b in system]
    for message in body.get("messages", []):
        content = message.get("content")
        if isinstance(content, str):
            blocks.append({"role": message.get("role"), "type": "text", "text": content})
        else:
            blocks += [{"role": message.get("role"), **block} for block in content or []]
    return blocks


def _shown(block: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in block.items() if k != "cache_control"}, sort_keys=True, ensure_ascii=False)


def tokens(block: dict[str, Any]) -> int:
    return max(1, len(_shown(block)) // 4)


class PromptCache:
    """What has been written to cache so far, keyed by a hash of the prefix (the blocks without their markers)."""

    def __init__(self, minimums: dict[str, int] | None = None) -> None:
        self.written: set[str] = set()
        self.minimums = minimums or {}
        """Each model's minimum cacheable prompt, in tokens (`testkit.fakes.claude_models`)."""

    def usage(self, body: dict[str, Any]) -> CacheUsage:
        blocks = prefix_blocks(body)
        marks = [i for i, block in enumerate(blocks) if "cache_control" in block]
        sizes = [tokens(block) for block in blocks]
        before = [0]
        for size in sizes:
            before.append(before[-1] + size)
        minimum = self.minimums.get(str(body.get("model")), DEFAULT_MINIMUM)
        hashes = _prefix_hashes(blocks, body, messages_from=_messages_from(body))
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


def _messages_from(body: dict[str, Any]) -> int:
    system = body.get("system") or []
    return len(body.get("tools") or []) + (1 if isinstance(system, str) else len(system))


def _prefix_hashes(blocks: list[dict[str, Any]], body: dict[str, Any], *, messages_from: int) -> list[str]:
    """hashes[n] identifies the first n blocks of this model's cache; the messages' share also depends on the
    request's thinking parameters."""
    digest = hashlib.sha256(str(body.get("model")).encode())
    hashes = [digest.hexdigest()]
    for index, block in enumerate(blocks):
        if index == messages_from:
            digest.update(json.dumps(body.get("thinking"), sort_keys=True).encode())
        digest.update(_shown(block).encode())
        hashes.append(digest.copy().hexdigest())
    return hashes
