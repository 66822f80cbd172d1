"""Signatures for the fake's thinking blocks, so it can tell a block passed back unchanged from one that was edited,
invented or dropped from between others.

The rules it enforces:
* a `thinking` block's `signature` and a `redacted_thinking` block's `data` are opaque values that must come back
  exactly as returned (SDK: `ThinkingBlockParam.signature`, "Thinking blocks must be passed back unmodified and in
  their original order; a modified block results in a 400 invalid_request_error"; `RedactedThinkingBlockParam.data`,
  "pass it back unchanged");
* on a model with preserved thinking, a block is also bound to its prefix: the top-level `system`, `tools`, and
  everything before the block in `messages` (build-with-claude/preserved-thinking/prefix-checks: "A prefix check
  fails if system, tools, or an earlier message changed after Claude produced a block. It also fails if a thinking
  block between others was left out or moved"). Cache markers are not content and do not count; a string content
  counts as the one text block it stands for (SDK `MessageCreateParamsBase.messages`). A block produced by another
  model that the current one cannot read is dropped without an error (preserved-thinking: "the API drops it from
  that request without an error").
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Sequence
from typing import Any


def canonical(block: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in block.items() if key != "cache_control"}


class PrefixHasher:
    """A thinking block's prefix, hashed as it grows: `system`, `tools`, then each turn's blocks in order. One pass
    over the request, however many thinking blocks it holds."""

    def __init__(self, system: Any, tools: Sequence[Any]) -> None:
        if isinstance(system, str):
            system = [{"type": "text", "text": system}] if system else []
        self._hash = hashlib.sha256()
        self._feed({"system": [canonical(b) for b in system or []], "tools": [canonical(t) for t in tools]})

    def _feed(self, value: Any) -> None:
        self._hash.update(json.dumps(value, sort_keys=True, ensure_ascii=False).encode() + b"\x1e")

    def turn(self, role: str) -> None:
        self._feed({"turn": role})

    def add(self, block: dict[str, Any]) -> None:
        self._feed(canonical(block))

    def digest(self) -> str:
        return self._hash.copy().hexdigest()


class Seal:
    """Mints and checks signatures with a key of its own (one per fake: a block from another fake is forged)."""

    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)

    def hasher(self, system: Any, tools: Sequence[Any]) -> PrefixHasher:
        return PrefixHasher(system, tools)

    def _mac(self, *parts: str) -> str:
        message = "\x1f".join(parts).encode()
        return base64.urlsafe_b64encode(hmac.new(self._key, message, hashlib.sha256).digest()).decode()

    def sign(self, model: str, thinking: str, prefix: str | None) -> str:
        """A signature for `thinking` from `model`; `prefix` is the block's prefix digest on a model with preserved
        thinking, else None."""
        mac = self._mac(model, thinking, prefix or "")
        card = {"m": model, "p": prefix is not None, "h": mac}
        return base64.b64encode(json.dumps(card).encode()).decode()

    def redacted(self, model: str) -> str:
        nonce = secrets.token_hex(12)
        card = {"m": model, "n": nonce, "h": self._mac("redacted", model, nonce)}
        return base64.b64encode(json.dumps(card).encode()).decode()

    def check_thinking(self, signature: Any, thinking: Any, model: str, prefix: str) -> str:
        """`ok`, `dropped` (a preserved-thinking block of another model: ignored without an error) or `invalid`."""
        card = _card(signature)
        if card is None or not isinstance(thinking, str) or not isinstance(card.get("m"), str):
            return "invalid"
        bound = bool(card.get("p"))
        if bound and card["m"] != model:
            return "dropped"
        expected = self._mac(card["m"], thinking, prefix if bound else "")
        return "ok" if hmac.compare_digest(str(card.get("h")), expected) else "invalid"

    def check_redacted(self, data: Any) -> bool:
        card = _card(data)
        if card is None:
            return False
        expected = self._mac("redacted", str(card.get("m")), str(card.get("n")))
        return hmac.compare_digest(str(card.get("h")), expected)


def _card(value: Any) -> dict[str, Any] | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        card = json.loads(base64.b64decode(value, validate=True))
    except ValueError:
        return None
    return card if isinstance(card, dict) else None
