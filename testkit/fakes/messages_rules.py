"""The Messages API's request rules, applied by the fake to every request before anything is answered.

A request that breaks one is refused as the API refuses it: the status, the error type and the API's own message
(api/errors: `{"type": "error", "error": {"type": ..., "message": ...}}`). Each rule names its source: a page of
Anthropic's documentation (platform.claude.com/docs/en/...), or a type of the installed SDK
(.venv/lib/python3.11/site-packages/anthropic/types/...). Where the API's exact wording was not found, the comment
says the wording is ours.

The rules for the conversation itself (`messages`) are in `testkit.fakes.conversation_rules`; the request-level
ones (size, fields, the model and its limits, thinking configuration, system prompt, tools, cache breakpoints,
prompt length) are here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from anthropic.types import ToolParam
from anthropic.types.message_create_params import MessageCreateParamsStreaming

from testkit.fakes.claude_models import MODELS, FakeModel
from testkit.fakes.conversation_rules import (
    TOOL_NAME,
    Refusal,
    Refused,
    Turn,
    bad,
    check_block_fields,
    check_conversation,
    check_seals,
    check_text,
    keys_of,
    turns_of,
)
from testkit.fakes.prompt_cache import MAX_BREAKPOINTS, prefix_blocks, tokens
from testkit.fakes.thinking_seal import Seal

__all__ = ["MAX_REQUEST_BYTES", "Checked", "Refusal", "Refused", "check"]

MAX_REQUEST_BYTES = 32 * 1024 * 1024
"""api/errors, "Request size limits": 32 MB for the Messages API."""

MIN_BUDGET = 1024
TOP_LEVEL = keys_of(MessageCreateParamsStreaming) | {"temperature", "top_k", "top_p"}
"""The SDK's `MessageCreateParams` fields; the sampling parameters older models still take."""


@dataclass(frozen=True, slots=True)
class Checked:
    """A request that passed: what answering it needs to know."""

    model: FakeModel
    thinking: bool
    """Whether the model thinks on this request (explicitly, or by the model's default)."""
    turns: list[Turn]
    input_tokens: int


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
        raise bad("The request body is not a JSON object.")  # wording ours
    _check_fields(body)
    model = MODELS.get(str(body["model"]))
    if model is None:
        # api/errors: 404 not_found_error for a model id that names none ("model: claude-sonnet-4.6").
        raise Refused(404, f"model: {body['model']}", "not_found_error")
    thinking = _check_limits(body, model)
    _check_system(body.get("system"))
    _check_tools(body.get("tools"))
    turns = turns_of(body["messages"])
    check_conversation(turns, model, thinking)
    _check_breakpoints(body)
    check_seals(body, turns, model, seal)
    window = (context_windows or {}).get(model.id, model.context_window)
    used = sum(tokens(block) for block in prefix_blocks(body))
    if used > window:
        # build-with-claude/context-windows: a prompt over the window is refused before generation.
        raise bad(f"prompt is too long: {used} tokens > {window} maximum")
    return Checked(model, thinking, turns, used)


def _check_fields(body: dict[str, Any]) -> None:
    # SDK MessageCreateParamsBase: `model`, `max_tokens` and `messages` are Required; other keys are not fields.
    for name in ("model", "max_tokens", "messages"):
        if name not in body:
            raise bad(f"{name}: Field required")
    for name in body:
        if name not in TOP_LEVEL:
            raise bad(f"{name}: Extra inputs are not permitted")


def _check_limits(body: dict[str, Any], model: FakeModel) -> bool:
    limit = body["max_tokens"]
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
        raise bad("max_tokens: Input should be a valid integer greater than or equal to 0")  # wording ours
    if limit > model.max_output:
        # about-claude/models/overview (each model's max output) and the API's wording for a request over it.
        raise bad(
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
        raise bad(
            f"thinking: Input tag '{kind}' found using 'type' does not match any of the expected tags: "
            + ", ".join(f"'{k}'" for k in known)
        )
    if kind not in model.accepts:
        # build-with-claude/thinking-troubleshooting, "rejected configurations by model", with its messages.
        if kind == "adaptive":
            raise bad("adaptive thinking is not supported on this model")
        raise bad(
            f'"thinking.type.{kind}" is not supported for this model. Use "thinking.type.adaptive" and '
            '"output_config.effort" to control thinking behavior.'
        )
    if kind == "enabled":
        # SDK ThinkingConfigEnabledParam.budget_tokens: "Must be ≥1024 and less than max_tokens".
        budget = config.get("budget_tokens")
        if not isinstance(budget, int) or budget < MIN_BUDGET:
            raise bad(f"thinking.enabled.budget_tokens: Input should be greater than or equal to {MIN_BUDGET}")
        if budget >= limit:
            raise bad(
                "`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our documentation at "
                "https://docs.claude.com/en/docs/build-with-claude/extended-thinking#max-tokens-and-context-window-size"
            )
    return kind in ("adaptive", "enabled")


def _check_system(system: Any) -> None:
    # SDK MessageCreateParamsBase.system: a string or text blocks (TextBlockParam), each with text.
    if system is None or isinstance(system, str):
        if isinstance(system, str) and system and not system.strip():
            raise bad("system: text content blocks must contain non-whitespace text")
        return
    for index, block in enumerate(system):
        if check_block_fields(block, f"system.{index}") != "text":
            raise bad(f"system.{index}: Input should be a valid text block")  # wording ours
        check_text(block, f"system.{index}")


def _check_tools(tools: Any) -> None:
    # SDK ToolParam: `name` and `input_schema` are Required; agents-and-tools/tool-use/define-tools: names match
    # ^[a-zA-Z0-9_-]{1,128}$ (the API's message for a dotted name on claude-sonnet-5).
    allowed = keys_of(ToolParam)
    for index, tool in enumerate(tools or []):
        if tool.get("type") not in (None, "custom"):
            continue  # a server tool: its own shape
        name = tool.get("name")
        if not isinstance(name, str) or not TOOL_NAME.match(name):
            raise bad(f"tools.{index}.custom.name: String should match pattern '^[a-zA-Z0-9_-]{{1,128}}$'")
        if "input_schema" not in tool:
            raise bad(f"tools.{index}.custom.input_schema: Field required")
        for key in tool:
            if key not in allowed:
                raise bad(f"tools.{index}.custom.{key}: Extra inputs are not permitted")


def _check_breakpoints(body: dict[str, Any]) -> None:
    # build-with-claude/prompt-caching: at most 4 cache breakpoints per request; the API's message.
    marked = sum(1 for block in _every_block(body) if "cache_control" in block)
    if marked > MAX_BREAKPOINTS:
        raise bad(f"A maximum of {MAX_BREAKPOINTS} blocks with cache_control may be provided. Found {marked}.")


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
