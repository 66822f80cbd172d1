"""The Messages API's rules for the conversation itself (`messages`): the blocks each turn may hold, text with
words, tool calls answered by the results that lead the next turn, thinking passed back unchanged and first in a
tool loop, and no final assistant turn on a model without prefill. `testkit.fakes.messages_rules` applies them with
the request-level rules.

Consecutive messages of one role are combined into one turn before these rules apply, as the SDK's
`MessageCreateParamsBase.messages` documents ("Consecutive user or assistant turns in your request will be combined
into a single turn"): so a tool result is "immediately after" its call when it leads the next turn, and a request
ends with an assistant turn when its last turn is the assistant's. Each rule names its source; where the API's
exact wording was not found, the comment says the wording is ours.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from anthropic.types import (
    RedactedThinkingBlockParam,
    ServerToolUseBlockParam,
    TextBlockParam,
    ThinkingBlockParam,
    ToolResultBlockParam,
    ToolUseBlockParam,
    WebSearchToolResultBlockParam,
)

from testkit.fakes.claude_models import FakeModel
from testkit.fakes.thinking_seal import Seal, canonical

TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
TOOL_ID = re.compile(r"^[a-zA-Z0-9_-]+$")
ASSISTANT_ONLY = frozenset({"tool_use", "server_tool_use", "thinking", "redacted_thinking", "web_search_tool_result"})
SERVER_TOOL_BLOCKS = frozenset({"server_tool_use", "web_search_tool_result"})
THINKING = frozenset({"thinking", "redacted_thinking"})


def keys_of(params: Any) -> frozenset[str]:
    return frozenset(params.__required_keys__ | params.__optional_keys__)


BLOCKS: dict[str, frozenset[str]] = {
    "text": keys_of(TextBlockParam),
    "tool_use": keys_of(ToolUseBlockParam),
    "tool_result": keys_of(ToolResultBlockParam),
    "thinking": keys_of(ThinkingBlockParam),
    "redacted_thinking": keys_of(RedactedThinkingBlockParam),
    "server_tool_use": keys_of(ServerToolUseBlockParam),
    "web_search_tool_result": keys_of(WebSearchToolResultBlockParam),
}
"""The block types the fake takes (the SDK's `ContentBlockParam`, less images, documents and files, which the
service never sends) and each one's fields."""
REQUIRED: dict[str, tuple[str, ...]] = {
    "text": ("text",),
    "tool_use": ("id", "name", "input"),
    "tool_result": ("tool_use_id",),
    "thinking": ("thinking", "signature"),
    "redacted_thinking": ("data",),
    "server_tool_use": ("id", "name", "input"),
    "web_search_tool_result": ("tool_use_id", "content"),
}
"""`Required[...]` fields of those SDK types."""


@dataclass(frozen=True, slots=True)
class Refusal:
    status: int
    message: str
    error_type: str = "invalid_request_error"


class Refused(Exception):
    def __init__(self, status: int, message: str, error_type: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.refusal = Refusal(status, message, error_type)


def bad(message: str) -> Refused:
    return Refused(400, message)


@dataclass(slots=True)
class Turn:
    """Consecutive messages of one role, combined: their blocks, and where each came from (message, block)."""

    role: str
    blocks: list[dict[str, Any]] = field(default_factory=list)
    places: list[tuple[int, int]] = field(default_factory=list)

    @property
    def first(self) -> int:
        return self.places[0][0] if self.places else 0


def check_text(block: dict[str, Any], where: str) -> None:
    text = block.get("text")
    if not isinstance(text, str):
        raise bad(f"{where}.text: Input should be a valid string")
    # The API's messages for text blocks without text: an empty one, and one of whitespace only.
    if not text:
        raise bad(f"{where.split('.')[0]}: text content blocks must be non-empty")
    if not text.strip():
        raise bad(f"{where.split('.')[0]}: text content blocks must contain non-whitespace text")


def check_block_fields(block: dict[str, Any], where: str) -> str:
    kind = block.get("type")
    if kind not in BLOCKS:
        # SDK ContentBlockParam: a union tagged by `type`.
        raise bad(
            f"{where}: Input tag '{kind}' found using 'type' does not match any of the expected tags: "
            + ", ".join(f"'{k}'" for k in BLOCKS)
        )
    assert isinstance(kind, str)
    for name in REQUIRED[kind]:
        if name not in block:
            raise bad(f"{where}.{kind}.{name}: Field required")
    for name in block:
        if name not in BLOCKS[kind]:
            raise bad(f"{where}.{kind}.{name}: Extra inputs are not permitted")
    return kind


def turns_of(messages: Any) -> list[Turn]:
    if not isinstance(messages, list) or not messages:
        raise bad("messages: at least one message is required")
    turns: list[Turn] = []
    for index, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        if role not in ("user", "assistant"):
            # SDK MessageParam; the service never sends mid-conversation `system` messages, so they are refused too.
            raise bad(f"messages.{index}.role: Input should be 'user' or 'assistant'")
        for key in message:
            if key not in ("role", "content"):
                raise bad(f"messages.{index}.{key}: Extra inputs are not permitted")
        content = message.get("content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        last = index == len(messages) - 1
        if not isinstance(blocks, list) or not blocks or content == "":
            if last and role == "assistant" and isinstance(blocks, list):
                # "except for the optional final assistant message": an empty one still ends the request
                if turns[-1].role != "assistant":
                    turns.append(Turn(role))
                continue
            raise bad(
                f"messages.{index}: all messages must have non-empty content except for the optional final "
                "assistant message"
            )
        if not turns or turns[-1].role != role:
            turns.append(Turn(role))
        for position, block in enumerate(blocks):
            where = f"messages.{index}.content.{position}"
            if not isinstance(block, dict):
                raise bad(f"{where}: Input should be a valid dictionary")
            kind = check_block_fields(block, where)
            if kind == "text":
                check_text(block, where)
            if (kind in ASSISTANT_ONLY) != (role == "assistant") and kind != "text":
                raise bad(f"{where}: `{kind}` blocks are not allowed in `{role}` messages")  # wording ours
            turns[-1].blocks.append(block)
            turns[-1].places.append((index, position))
    return turns


def check_conversation(turns: list[Turn], model: FakeModel, thinking: bool) -> None:
    if turns[0].role != "user":
        raise bad('messages: first message must use the "user" role')
    seen: set[str] = set()
    for number, turn in enumerate(turns):
        if turn.role == "assistant":
            _check_calls(turn, seen)
            _check_answered(turns, number)
        else:
            _check_results(turns, number)
    last = turns[-1]
    if last.role == "user" and any(b.get("type") == "tool_result" for b in last.blocks) and thinking:
        _check_thinking_first(turns[-2] if len(turns) > 1 else None)
    paused_in_server_tool = bool(last.blocks) and last.blocks[-1].get("type") in SERVER_TOOL_BLOCKS
    if last.role == "assistant" and not model.prefill and not paused_in_server_tool:
        # SDK MessageCreateParamsBase.messages: on models without prefill a final assistant turn is a 400 (api/errors,
        # "Prefill not supported"), except a turn paused inside a server tool's loop, which the API resumes
        # (agents-and-tools/tool-use/server-tools, "The server-side loop and pause_turn").
        raise bad(
            "This model does not support assistant message prefill. The conversation must end with a user message."
        )


def _check_calls(turn: Turn, seen: set[str]) -> None:
    for block, (index, position) in zip(turn.blocks, turn.places, strict=True):
        if block.get("type") not in ("tool_use", "server_tool_use"):
            continue
        where = f"messages.{index}.content.{position}"
        kind = block["type"]
        # SDK ToolUseBlockParam; the API's messages for an id or a name of the wrong shape, and a repeated id.
        if not isinstance(block["id"], str) or not TOOL_ID.match(block["id"]):
            raise bad(f"{where}.{kind}.id: String should match pattern '^[a-zA-Z0-9_-]+$'")
        if not isinstance(block["name"], str) or not TOOL_NAME.match(block["name"]):
            raise bad(f"{where}.{kind}.name: String should match pattern '^[a-zA-Z0-9_-]{{1,128}}$'")
        if not isinstance(block["input"], dict):
            raise bad(f"{where}.{kind}.input: Input should be a valid dictionary")
        if block["id"] in seen:
            raise bad(f"{where}: `tool_use` ids must be unique")
        seen.add(block["id"])


def _check_answered(turns: list[Turn], number: int) -> None:
    """agents-and-tools/tool-use/handle-tool-calls: "Tool result blocks must immediately follow their corresponding
    tool use blocks ... the tool_result blocks must come FIRST in the content array"; the API's message."""
    turn = turns[number]
    calls = [(b["id"], place) for b, place in zip(turn.blocks, turn.places, strict=True) if b["type"] == "tool_use"]
    if not calls or number == len(turns) - 1:
        return
    answered = set()
    for block in turns[number + 1].blocks:
        if block.get("type") != "tool_result":
            break
        answered.add(block.get("tool_use_id"))
    missing = [call_id for call_id, _ in calls if call_id not in answered]
    if missing:
        index = calls[-1][1][0]
        raise bad(
            f"messages.{index}: `tool_use` ids were found without `tool_result` blocks immediately after: "
            f"{', '.join(missing)}. Each `tool_use` block must have a corresponding `tool_result` block in the next "
            "message."
        )


def _check_results(turns: list[Turn], number: int) -> None:
    previous = turns[number - 1] if number else None
    asked = {b["id"] for b in previous.blocks if b.get("type") == "tool_use"} if previous else set()
    for block, (index, position) in zip(turns[number].blocks, turns[number].places, strict=True):
        if block.get("type") != "tool_result":
            continue
        if block.get("tool_use_id") not in asked:
            raise bad(
                f"messages.{index}.content.{position}: unexpected `tool_use_id` found in `tool_result` blocks: "
                f"{block.get('tool_use_id')}. Each `tool_result` block must have a corresponding `tool_use` block "
                "in the previous message."
            )
        content = block.get("content")
        for inner, part in enumerate(content if isinstance(content, list) else []):
            if part.get("type") == "text":
                check_text(part, f"messages.{index}.content.{position}.content.{inner}")


def _check_thinking_first(answer: Turn | None) -> None:
    """build-with-claude/extended-thinking, "Preserving thinking blocks": while a tool loop is in progress the last
    assistant turn is sent back starting with its thinking block(s); the API's message when it does not."""
    if answer is None:
        return
    first = answer.blocks[0].get("type")
    if first not in THINKING:
        index = answer.places[0][0]
        raise bad(
            f"messages.{index}.content.0.type: Expected `thinking` or `redacted_thinking`, but found `{first}`. "
            "When `thinking` is enabled, a final `assistant` message must start with a thinking block (preceeding "
            "the lastmost set of `tool_use` and `tool_result` blocks). We recommend you include thinking blocks "
            "from previous turns. To avoid this requirement, disable `thinking`. Please consult our documentation "
            "at https://docs.claude.com/en/docs/build-with-claude/extended-thinking"
        )


def check_seals(body: dict[str, Any], turns: list[Turn], model: FakeModel, seal: Seal) -> None:
    """testkit.fakes.thinking_seal: thinking blocks unchanged (SDK ThinkingBlockParam.signature), redacted thinking
    unchanged (RedactedThinkingBlockParam.data), and bound to their prefix on models with preserved thinking."""
    hasher = seal.hasher(body.get("system"), body.get("tools") or [])
    for turn in turns:
        hasher.turn(turn.role)
        for block, (index, position) in zip(turn.blocks, turn.places, strict=True):
            kind = block.get("type")
            where = f"messages.{index}.content.{position}"
            if kind == "thinking":
                verdict = seal.check_thinking(block["signature"], block["thinking"], model.id, hasher.digest())
                if verdict == "invalid":
                    raise bad(f"{where}: Invalid `signature` in `thinking` block")
            elif kind == "redacted_thinking" and not seal.check_redacted(block["data"]):
                raise bad(f"{where}: Invalid `data` in `redacted_thinking` block")
            hasher.add(canonical(block))
