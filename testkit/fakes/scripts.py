"""Helpers to script what the fake Messages API answers: the model's words and tool calls, its other ways of
stopping (a paused turn, a refusal, a cut answer, a full context window), and the API's errors, each with the
status, type and message the real API sends (api/errors; build-with-claude/handling-stop-reasons)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from testkit.fakes.messages_wire import (
    Block,
    HttpError,
    RedactedThinking,
    Reply,
    ServerToolResult,
    StreamCut,
    Text,
    Thinking,
    TokenUsage,
    ToolUse,
    new_tool_id,
    server_tool_use,
)


def say(
    text: str,
    *,
    stop_reason: str | None = "end_turn",
    usage: TokenUsage | None = None,
    delay_s: float = 0.0,
    cut: StreamCut | None = None,
    model: str | None = None,
    thinking: bool | None = None,
) -> Reply:
    """A text answer (with a thinking block first when the request has thinking on, unless `thinking=False`)."""
    content: tuple[Block, ...] = (Text(text),) if text else ()
    return Reply(
        content=content,
        stop_reason=stop_reason,
        usage=usage or TokenUsage(),
        delay_s=delay_s,
        cut=cut,
        model=model,
        thinking=thinking,
    )


def call(
    name: str,
    arguments: Any = None,
    *,
    call_id: str | None = None,
    text: str = "",
    stop_reason: str | None = "tool_use",
    usage: TokenUsage | None = None,
    delay_s: float = 0.0,
    cut: StreamCut | None = None,
) -> Reply:
    """One tool call (with optional preamble text)."""
    use = ToolUse(name, arguments if arguments is not None else {}, id=call_id or new_tool_id())
    return calls(use, text=text, stop_reason=stop_reason, usage=usage, delay_s=delay_s, cut=cut)


def calls(
    *uses: ToolUse,
    text: str = "",
    stop_reason: str | None = "tool_use",
    usage: TokenUsage | None = None,
    delay_s: float = 0.0,
    cut: StreamCut | None = None,
) -> Reply:
    """Several tool calls in one answer, as a model that parallelises sends them."""
    blocks: tuple[Block, ...] = ((Text(text),) if text else ()) + uses
    return Reply(content=blocks, stop_reason=stop_reason, usage=usage or TokenUsage(), delay_s=delay_s, cut=cut)


def thought(*blocks: Block, stop_reason: str = "tool_use", redacted: bool = False) -> Reply:
    """An answer that starts with a thinking block (and a redacted one after it with `redacted`), as a thinking
    model's does; the fake seals both for the request it answers."""
    first: tuple[Block, ...] = (Thinking(),) + ((RedactedThinking(),) if redacted else ())
    return Reply(content=first + blocks, stop_reason=stop_reason, thinking=True)


def paused(text: str = "Let me search the help centre.", *, query: str = "returns policy") -> Reply:
    """A turn the API paused inside its server-tool loop (`pause_turn`): words, then a server tool's call whose
    result is still to come (agents-and-tools/tool-use/server-tools, "The server-side loop and pause_turn")."""
    blocks: tuple[Block, ...] = ((Text(text),) if text else ()) + (server_tool_use(query),)
    return Reply(content=blocks, stop_reason="pause_turn")


def searched(text: str, *, query: str = "returns policy") -> Reply:
    """An answer that used a server tool and then spoke: the call, its result, the words (one assistant turn)."""
    use = server_tool_use(query)
    return Reply(content=(use, ServerToolResult(use.id), Text(text)), stop_reason="end_turn")


def refusal(text: str = "", *, category: str = "general_harms") -> Reply:
    """The model declined (handling-stop-reasons, `refusal`), with the structured `stop_details` the SDK's
    `RefusalStopDetails` describes. Partial words may have streamed before it."""
    details = {"type": "refusal", "category": category, "explanation": "This request was declined."}
    return Reply(content=(Text(text),) if text else (), stop_reason="refusal", stop_details=details)


def cut_call(text: str, name: str, partial_json: str) -> Reply:
    """An answer cut by `max_tokens` inside a tool call: the call's input is incomplete."""
    use = ToolUse(name, raw_json=(partial_json,), partial=True)
    return Reply(content=(Text(text), use), stop_reason="max_tokens")


def window_full(text: str) -> Reply:
    """An answer stopped because it filled the model's context window (`model_context_window_exceeded`)."""
    return Reply(content=(Text(text),), stop_reason="model_context_window_exceeded")


def system_says(fragment: str) -> Callable[[dict[str, Any]], bool]:
    """A lane predicate: the request's system prompt (a string or text blocks) contains `fragment`."""

    def matches(body: dict[str, Any]) -> bool:
        system = body.get("system", "")
        text = system if isinstance(system, str) else " ".join(str(b.get("text", "")) for b in system)
        return fragment in text

    return matches


def http_error(status: int, message: str = "fake failure", **options: Any) -> HttpError:
    return HttpError(status, message, **options)


def overloaded(*, retry_after: float | str | None = 0.001, **options: Any) -> HttpError:
    """The API's 529, with a tiny `retry-after` so the SDK's retry is immediate."""
    return HttpError(529, "Overloaded", retry_after=retry_after, **options)


def rate_limited(retry_after: float = 90, **options: Any) -> HttpError:
    """A 429 `rate_limit_error` asking the client to wait `retry_after` seconds (api/rate-limits: "retry-after")."""
    message = "Number of request tokens has exceeded your per-minute rate limit"
    return HttpError(429, message, retry_after=retry_after, **options)


def prompt_too_long(tokens: int = 210_000, limit: int = 200_000) -> HttpError:
    """The API's refusal of a prompt over the model's context window (a 400 `invalid_request_error`)."""
    return HttpError(400, f"prompt is too long: {tokens} tokens > {limit} maximum")


def too_large() -> HttpError:
    """api/errors: 413 `request_too_large`, a request over 32 MB (refused before it reaches the API servers)."""
    return HttpError(413, "Request exceeds the maximum allowed number of bytes.")
