"""The Messages API's request rules, applied by the fake to every request before anything is answered.

A request that breaks one is refused as the API refuses it: the status, the error type and the API's own message
(api/errors: `{"type": "error", "error": {"type": ..., "message": ...}}`). Each rule names its source: a page of
Anthropic's documentation (platform.claude.com/docs/en/...), or a type of the installed SDK
(.venv/lib/python3.11/site-packages/anthropic/types/...). Where the API's exact wording was not found, the comment
says the wording is ours.

Consecutive messages of one role are combined into one turn before the turn rules apply, as the SDK's
`MessageCreateParamsBase.messages` documents ("Consecutive user or assistant turns in your request will be combined
into a single turn"): so a tool result is "immediately after" its call when it leads the next turn, and a request
ends with an assistant turn when its last turn is the assistant's.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from anthropic.types import (
    RedactedThinkingBlockParam,
    ServerToolUseBlockParam,
    TextBlockParam,
    ThinkingBlockParam,
    ToolParam,
    ToolResultBlockParam,
    ToolUseBlockParam,
    WebSearchToolResultBlockParam,
)
from anthropic.types.message_create_params import MessageCreateParamsStreaming

from tests.fakes.claude_models import MODELS, FakeModel
from tests.fakes.prompt_cache import MAX_BREAKPOINTS, prefix_blocks, tokens
from tests.fakes.thinking_seal import Seal, canonical

MAX_REQUEST_BYTES = 32 * 1024 * 1024
"""api/errors, "Request size limits": 32 MB for the Messages API."""

MIN_BUDGET = 1024
TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
TOOL_ID = re.compile(r"^[a-zA-Z0-9_-]+$")
ASSISTANT_ONLY = frozenset({"tool_use", "server_tool_use", "thinking", "redacted_thinking", "web_search_tool_result"})
SERVER_TOOL_BLOCKS = frozenset({"server_tool_use", "web_search_tool_result"})
THINKING = frozenset({"thinking", "redacted_thinking"})


def _keys(params: Any) -> frozenset[str]:
    return frozenset(params.__required_keys__ | params.__optional_keys__)


TOP_LEVEL = _keys(MessageCreateParamsStreaming) | {"temperature", "top_k", "top_p"}
"""The SDK's `MessageCreateParams` fields; the sampling parameters older models still take."""
BLOCKS: dict[str, frozenset[str]] = {
    "text": _keys(TextBlockParam),
    "tool_use": _keys(ToolUseBlockParam),
    "tool_result": _keys(ToolResultBlockParam),
    "thinking": _keys(ThinkingBlockParam),
    "redacted_thinking": _keys(RedactedThinkingBlockParam),
    "server_tool_use": _keys(ServerToolUseBlockParam),
    "web_search_tool_result": _keys(WebSearchToolResultBlockParam),
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


@dataclass(slots=True)
class Turn:
    """Consecutive messages of one role, combined: their blocks, and where each came from (message, block)."""

    role: str
    blocks: list[dict[str, Any]] = field(default_factory=list)
    places: list[tuple[int, int]] = field(default_factory=list)

    @property
    def first(self) -> int:
        return self.places[0][0] if self.places else 0


@dataclass(frozen=True, slots=True)
class Checked:
    """A request that passed: what answering it needs to know."""

    model: FakeModel
    thinking: bool
    """Whether the model thinks on this request (explicitly, or by the model's default)."""
    turns: list[Turn]
    input_tokens: int


def _bad(message: str) -> Refused:
    return Refused(400, message)


def check(
    body: Any,
    raw_size: int,
    *,
    seal: Seal,
    max_bytes: int = MAX_REQUEST_BYTES,
    context_windows: dict[str, int] | None = None,
) -> Checked:
    """The request's verdict: `Checked`, or `Refused` raised with the API's status and message."""
    # api/errors: 413 request_too_large, "Request exceeds the maximum allowed number of bytes".
    if raw_size > max_bytes:
        raise Refused(413, "Request exceeds the maximum allowed number of bytes.", "request_too_large")
    if not isinstance(body, dict):
        raise _bad("The request body is not a JSON object.")  # wording ours
    _check_fields(body)
    model = MODELS.get(str(body["model"]))
    if model is None:
        # api/errors: 404 not_found_error for a model id that names none ("model: claude-sonnet-4.6").
        raise Refused(404, f"model: {body['model']}", "not_found_error")
    thinking = _check_limits(body, model)
    _check_system(body.get("system"))
    _check_tools(body.get("tools"))
    turns = _turns(body["messages"])
    _check_conversation(turns, model, thinking)
    _check_breakpoints(body)
    _check_seals(body, turns, model, seal)
    window = (context_windows or {}).get(model.id, model.context_window)
    used = sum(tokens(block) for block in prefix_blocks(body))
    if used > window:
        # build-with-claude/context-windows: a prompt over the window is refused before generation.
        raise _bad(f"prompt is too long: {used} tokens > {window} maximum")
    return Checked(model, thinking, turns, used)


def _check_fields(body: dict[str, Any]) -> None:
    # SDK MessageCreateParamsBase: `model`, `max_tokens` and `messages` are Required; other keys are not fields.
    for name in ("model", "max_tokens", "messages"):
        if name not in body:
            raise _bad(f"{name}: Field required")
    for name in body:
        if name not in TOP_LEVEL:
            raise _bad(f"{name}: Extra inputs are not permitted")


def _check_limits(body: dict[str, Any], model: FakeModel) -> bool:
    limit = body["max_tokens"]
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
        raise _bad("max_tokens: Input should be a valid integer greater than or equal to 0")  # wording ours
    if limit > model.max_output:
        # about-claude/models/overview (each model's max output) and the API's wording for a request over it.
        raise _bad(
            f"max_tokens: {limit} > {model.max_output}, which is the maximum allowed number of output tokens "
            f"for {model.id}"
        )
    config = body.get("thinking")
    if config is None:
        return model.thinks_by_default
    kind = config.get("type") if isinstance(config, dict) else None
    known = ("adaptive", "between_tools", "disabled", "enabled")
    if kind not in known:
        # SDK ThinkingConfigParam: a union tagged by `type`.
        raise _bad(
            f"thinking: Input tag '{kind}' found using 'type' does not match any of the expected tags: "
            + ", ".join(f"'{k}'" for k in known)
        )
    if kind not in model.accepts:
        # build-with-claude/thinking-troubleshooting, "rejected configurations by model", with its messages.
        if kind == "adaptive":
            raise _bad("adaptive thinking is not supported on this model")
        raise _bad(
            f'"thinking.type.{kind}" is not supported for this model. Use "thinking.type.adaptive" and '
            '"output_config.effort" to control thinking behavior.'
        )
    if kind == "enabled":
        # SDK ThinkingConfigEnabledParam.budget_tokens: "Must be ≥1024 and less than max_tokens".
        budget = config.get("budget_tokens")
        if not isinstance(budget, int) or budget < MIN_BUDGET:
            raise _bad(f"thinking.enabled.budget_tokens: Input should be greater than or equal to {MIN_BUDGET}")
        if budget >= limit:
            raise _bad(
                "`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our documentation at "
                "https://docs.claude.com/en/docs/build-with-claude/extended-thinking#max-tokens-and-context-window-size"
            )
    return kind in ("adaptive", "enabled")


def _check_text(block: dict[str, Any], where: str) -> None:
    text = block.get("text")
    if not isinstance(text, str):
        raise _bad(f"{where}.text: Input should be a valid string")
    # The API's messages for text blocks without text: an empty one, and one of whitespace only.
    if not text:
        raise _bad(f"{where.split('.')[0]}: text content blocks must be non-empty")
    if not text.strip():
        raise _bad(f"{where.split('.')[0]}: text content blocks must contain non-whitespace text")


def _check_block_fields(block: dict[str, Any], where: str) -> str:
    kind = block.get("type")
    if kind not in BLOCKS:
        # SDK ContentBlockParam: a union tagged by `type`.
        raise _bad(
            f"{where}: Input tag '{kind}' found using 'type' does not match any of the expected tags: "
            + ", ".join(f"'{k}'" for k in BLOCKS)
        )
    assert isinstance(kind, str)
    for name in REQUIRED[kind]:
        if name not in block:
            raise _bad(f"{where}.{kind}.{name}: Field required")
    for name in block:
        if name not in BLOCKS[kind]:
            raise _bad(f"{where}.{kind}.{name}: Extra inputs are not permitted")
    return kind


def _check_system(system: Any) -> None:
    # SDK MessageCreateParamsBase.system: a string or text blocks (TextBlockParam), each with text.
    if system is None or isinstance(system, str):
        if isinstance(system, str) and system and not system.strip():
            raise _bad("system: text content blocks must contain non-whitespace text")
        return
    for index, block in enumerate(system):
        if _check_block_fields(block, f"system.{index}") != "text":
            raise _bad(f"system.{index}: Input should be a valid text block")  # wording ours
        _check_text(block, f"system.{index}")


def _check_tools(tools: Any) -> None:
    # SDK ToolParam: `name` and `input_schema` are Required; agents-and-tools/tool-use/define-tools: names match
    # ^[a-zA-Z0-9_-]{1,128}$ (the API's message for a dotted name on claude-sonnet-5).
    allowed = _keys(ToolParam)
    for index, tool in enumerate(tools or []):
        if tool.get("type") not in (None, "custom"):
            continue  # a server tool: its own shape
        name = tool.get("name")
        if not isinstance(name, str) or not TOOL_NAME.match(name):
            raise _bad(f"tools.{index}.custom.name: String should match pattern '^[a-zA-Z0-9_-]{{1,128}}$'")
        if "input_schema" not in tool:
            raise _bad(f"tools.{index}.custom.input_schema: Field required")
        for key in tool:
            if key not in allowed:
                raise _bad(f"tools.{index}.custom.{key}: Extra inputs are not permitted")


def _turns(messages: Any) -> list[Turn]:
    if not isinstance(messages, list) or not messages:
        raise _bad("messages: at least one message is required")
    turns: list[Turn] = []
    for index, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        if role not in ("user", "assistant"):
            # SDK MessageParam; the service never sends mid-conversation `system` messages, so they are refused too.
            raise _bad(f"messages.{index}.role: Input should be 'user' or 'assistant'")
        for key in message:
            if key not in ("role", "content"):
                raise _bad(f"messages.{index}.{key}: Extra inputs are not permitted")
        content = message.get("content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        last = index == len(messages) - 1
        if not isinstance(blocks, list) or not blocks or content == "":
            if last and role == "assistant" and isinstance(blocks, list):
                # "except for the optional final assistant message": an empty one still ends the request
                if turns[-1].role != "assistant":
                    turns.append(Turn(role))
                continue
            raise _bad(
                f"messages.{index}: all messages must have non-empty content except for the optional final "
                "assistant message"
            )
        if not turns or turns[-1].role != role:
            turns.append(Turn(role))
        for position, block in enumerate(blocks):
            where = f"messages.{index}.content.{position}"
            if not isinstance(block, dict):
                raise _bad(f"{where}: Input should be a valid dictionary")
            kind = _check_block_fields(block, where)
            if kind == "text":
                _check_text(block, where)
            if (kind in ASSISTANT_ONLY) != (role == "assistant") and kind != "text":
                raise _bad(f"{where}: `{kind}` blocks are not allowed in `{role}` messages")  # wording ours
            turns[-1].blocks.append(block)
            turns[-1].places.append((index, position))
    return turns


def _check_conversation(turns: list[Turn], model: FakeModel, thinking: bool) -> None:
    if turns[0].role != "user":
        raise _bad('messages: first message must use the "user" role')
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
        raise _bad(
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
            raise _bad(f"{where}.{kind}.id: String should match pattern '^[a-zA-Z0-9_-]+$'")
        if not isinstance(block["name"], str) or not TOOL_NAME.match(block["name"]):
            raise _bad(f"{where}.{kind}.name: String should match pattern '^[a-zA-Z0-9_-]{{1,128}}$'")
        if not isinstance(block["input"], dict):
            raise _bad(f"{where}.{kind}.input: Input should be a valid dictionary")
        if block["id"] in seen:
            raise _bad(f"{where}: `tool_use` ids must be unique")
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
        raise _bad(
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
            raise _bad(
                f"messages.{index}.content.{position}: unexpected `tool_use_id` found in `tool_result` blocks: "
                f"{block.get('tool_use_id')}. Each `tool_result` block must have a corresponding `tool_use` block "
                "in the previous message."
            )
        content = block.get("content")
        for inner, part in enumerate(content if isinstance(content, list) else []):
            if part.get("type") == "text":
                _check_text(part, f"messages.{index}.content.{position}.content.{inner}")


def _check_thinking_first(answer: Turn | None) -> None:
    """build-with-claude/extended-thinking, "Preserving thinking blocks": while a tool loop is in progress the last
    assistant turn is sent back starting with its thinking block(s); the API's message when it does not."""
    if answer is None:
        return
    first = answer.blocks[0].get("type")
    if first not in THINKING:
        index = answer.places[0][0]
        raise _bad(
            f"messages.{index}.content.0.type: Expected `thinking` or `redacted_thinking`, but found `{first}`. "
            "When `thinking` is enabled, a final `assistant` message must start with a thinking block (preceeding "
            "the lastmost set of `tool_use` and `tool_result` blocks). We recommend you include thinking blocks "
            "from previous turns. To avoid this requirement, disable `thinking`. Please consult our documentation "
            "at https://docs.claude.com/en/docs/build-with-claude/extended-thinking"
        )


def _check_breakpoints(body: dict[str, Any]) -> None:
    # build-with-claude/prompt-caching: at most 4 cache breakpoints per request; the API's message.
    marked = sum(1 for block in _every_block(body) if "cache_control" in block)
    if marked > MAX_BREAKPOINTS:
        raise _bad(f"A maximum of {MAX_BREAKPOINTS} blocks with cache_control may be provided. Found {marked}.")


def _every_block(body: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield from body.get("tools") or []
    system = body.get("system")
    yield from system if isinstance(system, list) else []
    for message in body["messages"]:
        content = message["content"]
        for block in content if isinstance(content, list) else []:
            yield block
            inner = block.get("content")
            yield from (b for b in inner if isinstance(b, dict)) if isinstance(inner, list) else []


def _check_seals(body: dict[str, Any], turns: list[Turn], model: FakeModel, seal: Seal) -> None:
    """tests.fakes.thinking_seal: thinking blocks unchanged (SDK ThinkingBlockParam.signature), redacted thinking
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
                    raise _bad(f"{where}: Invalid `signature` in `thinking` block")
            elif kind == "redacted_thinking" and not seal.check_redacted(block["data"]):
                raise _bad(f"{where}: Invalid `data` in `redacted_thinking` block")
            hasher.add(canonical(block))
