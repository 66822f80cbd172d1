"""The fake Messages API refuses what the real one refuses, with the API's status, error type and message.

Each case sends, through the official SDK, one request that breaks one rule (`testkit.fakes.messages_rules`, where each
rule names its source) and checks the refusal; a few send the nearest request the API accepts, so a rule cannot
pass by refusing everything. A refused request uses no scripted reply.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import pytest

from testkit.fakes.anthropic_api import FakeMessagesAPI, call, say, thought

PLAIN = "claude-sonnet-4-6"
"""No thinking unless asked, no prefill."""
THINKS = "claude-sonnet-5"
"""Thinks when `thinking` is omitted."""
PRESERVES = "claude-sonnet-5-5"
"""Binds thinking blocks to their prefix."""
PREFILLS = "claude-haiku-4-5"
TOOLS = [{"name": "get_order_details", "description": "Read an order.", "input_schema": {"type": "object"}}]


@pytest.fixture
def api() -> Iterator[FakeMessagesAPI]:
    with FakeMessagesAPI(expect_refusals=True) as fake:
        yield fake


def send(api: FakeMessagesAPI, **request: Any) -> Any:
    request.setdefault("model", PLAIN)
    request.setdefault("max_tokens", 1024)
    request.setdefault("messages", [{"role": "user", "content": "hello"}])
    # An explicit timeout, as the service sets one: without it the SDK itself refuses a large `max_tokens`.
    with anthropic.Anthropic(api_key="k", base_url=api.base_url, max_retries=0, timeout=30) as sdk:
        return sdk.messages.create(**request)


def refused(api: FakeMessagesAPI, **request: Any) -> anthropic.APIStatusError:
    with pytest.raises(anthropic.APIStatusError) as raised:
        send(api, **request)
    return raised.value


def user(content: Any) -> dict[str, Any]:
    return {"role": "user", "content": content}


def assistant(content: Any) -> dict[str, Any]:
    return {"role": "assistant", "content": content}


def use(call_id: str = "toolu_1") -> dict[str, Any]:
    return {"type": "tool_use", "id": call_id, "name": "get_order_details", "input": {"order_id": "#W1"}}


def result(call_id: str = "toolu_1") -> dict[str, Any]:
    return {"type": "tool_result", "tool_use_id": call_id, "content": '{"status": "pending"}'}


def text(words: str) -> dict[str, Any]:
    return {"type": "text", "text": words}


MARKED = {"type": "text", "text": "x", "cache_control": {"type": "ephemeral"}}

CASES: list[tuple[str, dict[str, Any], int, str]] = [
    ("unknown-model", {"model": "claude-sonnet-4.6"}, 404, "model: claude-sonnet-4.6"),
    (
        "max-tokens-over-the-models-limit",
        {"model": PREFILLS, "max_tokens": 100_000},
        400,
        "max_tokens: 100000 > 64000, which is the maximum allowed number of output tokens for claude-haiku-4-5",
    ),
    ("no-messages", {"messages": []}, 400, "messages: at least one message is required"),
    (
        "assistant-first",
        {"messages": [assistant("Hi"), user("hello")]},
        400,
        'messages: first message must use the "user" role',
    ),
    (
        "empty-message",
        {"messages": [user("hi"), assistant([]), user("there?")]},
        400,
        "messages.1: all messages must have non-empty content except for the optional final assistant message",
    ),
    ("empty-text", {"messages": [user([text("")])]}, 400, "messages: text content blocks must be non-empty"),
    (
        "whitespace-text",
        {"messages": [user("hi"), assistant([text("\n\n"), use()]), user([result()])], "tools": TOOLS},
        400,
        "messages: text content blocks must contain non-whitespace text",
    ),
    (
        "whitespace-system",
        {"system": [text(" \n")]},
        400,
        "system: text content blocks must contain non-whitespace text",
    ),
    (
        "call-without-result",
        {"messages": [user("hi"), assistant([use()]), user("and?")], "tools": TOOLS},
        400,
        "messages.1: `tool_use` ids were found without `tool_result` blocks immediately after: toolu_1. Each "
        "`tool_use` block must have a corresponding `tool_result` block in the next message.",
    ),
    (
        "result-after-text",
        {"messages": [user("hi"), assistant([use()]), user([text("here"), result()])], "tools": TOOLS},
        400,
        "messages.1: `tool_use` ids were found without `tool_result` blocks immediately after: toolu_1.",
    ),
    (
        "result-without-call",
        {"messages": [user("hi"), assistant("Sure."), user([result("toolu_9")])]},
        400,
        "messages.2.content.0: unexpected `tool_use_id` found in `tool_result` blocks: toolu_9. Each `tool_result` "
        "block must have a corresponding `tool_use` block in the previous message.",
    ),
    (
        "repeated-call-id",
        {
            "messages": [user("hi"), assistant([use()]), user([result()]), assistant([use()]), user([result()])],
            "tools": TOOLS,
        },
        400,
        "messages.3.content.0: `tool_use` ids must be unique",
    ),
    (
        "call-id-shape",
        {"messages": [user("hi"), assistant([use("toolu 1")]), user([result("toolu 1")])], "tools": TOOLS},
        400,
        "messages.1.content.0.tool_use.id: String should match pattern '^[a-zA-Z0-9_-]+$'",
    ),
    (
        "tool-name-shape",
        {"tools": [{"name": "orders.get", "input_schema": {"type": "object"}}]},
        400,
        "tools.0.custom.name: String should match pattern '^[a-zA-Z0-9_-]{1,128}$'",
    ),
    (
        "five-breakpoints",
        {"system": [MARKED], "messages": [user([MARKED, MARKED, MARKED, MARKED])]},
        400,
        "A maximum of 4 blocks with cache_control may be provided. Found 5.",
    ),
    (
        "prefill-on-a-model-without-it",
        {"messages": [user("hi"), assistant("The answer is")]},
        400,
        "This model does not support assistant message prefill. The conversation must end with a user message.",
    ),
    (
        "budget-on-an-adaptive-model",
        {"model": THINKS, "thinking": {"type": "enabled", "budget_tokens": 2000}, "max_tokens": 4000},
        400,
        '"thinking.type.enabled" is not supported for this model. Use "thinking.type.adaptive" and '
        '"output_config.effort" to control thinking behavior.',
    ),
    (
        "disabled-where-thinking-is-always-on",
        {"model": "claude-opus-5-5", "thinking": {"type": "disabled"}},
        400,
        '"thinking.type.disabled" is not supported for this model.',
    ),
    (
        "adaptive-on-a-budget-model",
        {"model": PREFILLS, "thinking": {"type": "adaptive"}},
        400,
        "adaptive thinking is not supported on this model",
    ),
    (
        "budget-under-1024",
        {"thinking": {"type": "enabled", "budget_tokens": 500}},
        400,
        "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024",
    ),
    (
        "budget-not-under-max-tokens",
        {"thinking": {"type": "enabled", "budget_tokens": 2048}, "max_tokens": 2048},
        400,
        "`max_tokens` must be greater than `thinking.budget_tokens`.",
    ),
    ("unknown-field", {"extra_body": {"temperatura": 1}}, 400, "temperatura: Extra inputs are not permitted"),
    (
        "unknown-block-field",
        {"messages": [user([{**text("hi"), "parsed_output": None}])]},
        400,
        "messages.0.content.0.text.parsed_output: Extra inputs are not permitted",
    ),
    (
        "thinking-without-signature",
        {"messages": [user("hi"), assistant([{"type": "thinking", "thinking": "hm"}, text("Hello")]), user("ok")]},
        400,
        "messages.1.content.0.thinking.signature: Field required",
    ),
    (
        "result-in-an-assistant-message",
        {"messages": [user("hi"), assistant([result()]), user("ok")]},
        400,
        "messages.1.content.0: `tool_result` blocks are not allowed in `assistant` messages",
    ),
    (
        "system-role-message",
        {"messages": [user("hi"), {"role": "system", "content": "be brief"}]},
        400,
        "messages.1.role: Input should be 'user' or 'assistant'",
    ),
    (
        "tool-loop-without-thinking-on-a-thinking-model",
        {"model": THINKS, "messages": [user("hi"), assistant([use()]), user([result()])], "tools": TOOLS},
        400,
        "messages.1.content.0.type: Expected `thinking` or `redacted_thinking`, but found `tool_use`. When "
        "`thinking` is enabled, a final `assistant` message must start with a thinking block",
    ),
]


@pytest.mark.parametrize(("request_", "status", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_rule_refuses_with_the_apis_message(
    api: FakeMessagesAPI, request_: dict[str, Any], status: int, message: str
) -> None:
    api.add(say("never sent"))
    error = refused(api, **request_)
    assert error.status_code == status
    kind = {400: "invalid_request_error", 404: "not_found_error"}[status]
    assert isinstance(error.body, dict) and error.body["type"] == "error"
    assert error.body["error"]["type"] == kind
    assert error.body["error"]["message"].startswith(message), error.body["error"]["message"]
    assert api.remaining == 1  # the refused request used no scripted reply
    assert api.refusals[-1].message == error.body["error"]["message"]


ACCEPTED: list[tuple[str, dict[str, Any]]] = [
    ("prefill-on-a-model-with-it", {"model": PREFILLS, "messages": [user("hi"), assistant("The answer is")]}),
    ("results-first-then-text", {"messages": [user("hi"), assistant([use()]), user([result(), text("thanks")])]}),
    ("consecutive-user-turns-combine", {"messages": [user("hi"), assistant([use()]), user([result()]), user("and")]}),
    ("four-breakpoints", {"system": [MARKED], "messages": [user([MARKED, MARKED, MARKED])]}),
    ("budget-under-max-tokens", {"thinking": {"type": "enabled", "budget_tokens": 1024}, "max_tokens": 2048}),
    ("tool-loop-without-thinking-when-it-is-off", {"messages": [user("hi"), assistant([use()]), user([result()])]}),
]


@pytest.mark.parametrize("request_", [c[1] for c in ACCEPTED], ids=[c[0] for c in ACCEPTED])
def test_the_nearest_valid_request_is_answered(api: FakeMessagesAPI, request_: dict[str, Any]) -> None:
    api.add(say("Fine."))
    request_.setdefault("tools", TOOLS)
    assert send(api, **request_).stop_reason == "end_turn"
    assert api.refusals == []


def test_a_request_over_the_size_limit_is_413() -> None:
    with FakeMessagesAPI(max_request_bytes=2000, expect_refusals=True) as api:
        error = refused(api, messages=[user("x" * 3000)])
    assert error.status_code == 413 and isinstance(error, anthropic.ContentTooLargeError)
    assert error.body == {
        "type": "error",
        "error": {"type": "request_too_large", "message": "Request exceeds the maximum allowed number of bytes."},
    }


def test_a_prompt_over_the_context_window_is_refused_as_too_long() -> None:
    with FakeMessagesAPI(context_windows={PLAIN: 50}, expect_refusals=True) as api:
        error = refused(api, messages=[user("tell me about my orders " * 20)])
    message = error.body["error"]["message"]  # type: ignore[index]
    assert message.startswith("prompt is too long: ") and message.endswith(" tokens > 50 maximum")


# --- thinking blocks passed back unchanged ------------------------------------------------------------------------


def a_tool_loop(api: FakeMessagesAPI, model: str, *, redacted: bool = False) -> list[dict[str, Any]]:
    """The conversation after a thinking model called a tool: the question, its answer as returned, the result."""
    api.add(thought(use_block(), redacted=redacted))
    answer = send(api, model=model, tools=TOOLS, messages=[user("where is #W1?")])
    blocks = [block.to_dict() for block in answer.content]
    return [user("where is #W1?"), assistant(blocks), user([result()])]


def drop_thinking(blocks: list[dict[str, Any]]) -> None:
    del blocks[:2]


def use_block() -> Any:
    from testkit.fakes.messages_wire import ToolUse

    return ToolUse("get_order_details", {"order_id": "#W1"}, id="toolu_1")


@pytest.mark.parametrize("model", [THINKS, PRESERVES])
def test_a_tool_loop_with_its_thinking_sent_back_unchanged_is_answered(api: FakeMessagesAPI, model: str) -> None:
    conversation = a_tool_loop(api, model, redacted=True)
    kinds = [b["type"] for b in conversation[1]["content"]]
    assert kinds == ["thinking", "redacted_thinking", "tool_use"]
    assert conversation[1]["content"][0]["thinking"] == ""  # display `omitted` on these models
    assert conversation[1]["content"][0]["signature"]
    api.add(say("It is pending."))
    answer = send(api, model=model, tools=TOOLS, messages=conversation)
    assert [b.type for b in answer.content] == ["thinking", "text"]
    assert api.refusals == []


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        (
            lambda b: b[0].update(thinking="I changed my mind."),
            "messages.1.content.0: Invalid `signature` in `thinking` block",
        ),
        (
            lambda b: b[0].update(signature=b[0]["signature"][:-4] + "AAA="),
            "messages.1.content.0: Invalid `signature` in `thinking` block",
        ),
        (lambda b: b[1].update(data="ZmFrZQ=="), "messages.1.content.1: Invalid `data` in `redacted_thinking` block"),
        (
            lambda b: b[:] == b.__delitem__(slice(0, 2)),
            "messages.1.content.0.type: Expected `thinking` or `redacted_thinking`, but found",
        ),
    ],
    ids=["edited-text", "edited-signature", "edited-redacted-data", "dropped-thinking"],
)
def test_a_thinking_block_changed_or_dropped_is_refused(api: FakeMessagesAPI, tamper: Any, message: str) -> None:
    conversation = a_tool_loop(api, THINKS, redacted=True)
    tamper(conversation[1]["content"])
    error = refused(api, model=THINKS, tools=TOOLS, messages=conversation)
    assert error.body["error"]["message"].startswith(message)  # type: ignore[index]


def test_on_a_model_with_preserved_thinking_a_block_is_bound_to_its_prefix(api: FakeMessagesAPI) -> None:
    """prefix-checks: a change to `system`, `tools` or an earlier message after a block was produced invalidates
    it; the same change is harmless on a model without preserved thinking."""
    for model, kept in ((PRESERVES, False), (THINKS, True)):
        conversation = a_tool_loop(api, model)
        conversation[0] = user("where is my order #W1, please?")
        if kept:
            api.add(say("It is pending."))
            send(api, model=model, tools=TOOLS, messages=conversation)
        else:
            error = refused(api, model=model, tools=TOOLS, messages=conversation)
            assert error.body["error"]["message"] == "messages.1.content.0: Invalid `signature` in `thinking` block"  # type: ignore[index]


def test_another_models_preserved_thinking_is_dropped_without_an_error(api: FakeMessagesAPI) -> None:
    """prefix-checks: "If the current model can't read a block, the API drops it from that request without an
    error." A Haiku 5.5 block sent to Opus 5.5 (thinking on) after the tool loop has ended."""
    conversation = a_tool_loop(api, "claude-haiku-5-5")
    api.add(say("It is pending."), say("Anything else?"))
    first = send(api, model="claude-haiku-5-5", tools=TOOLS, messages=conversation)
    later = [*conversation, assistant([b.to_dict() for b in first.content]), user("thanks")]
    assert send(api, model="claude-opus-5-5", tools=TOOLS, messages=later).stop_reason == "end_turn"


def test_a_turn_paused_in_a_server_tool_may_be_sent_back_last(api: FakeMessagesAPI) -> None:
    """server-tools, "The server-side loop and pause_turn": the paused content goes back as the last message, which
    is not a prefill even on a model without prefill."""
    from testkit.fakes.scripts import paused

    api.add(paused())
    first = send(api, messages=[user("what is the returns policy?")])
    assert first.stop_reason == "pause_turn" and first.content[-1].type == "server_tool_use"
    api.add(say("You can return items within 30 days."))
    content = [b.to_dict() for b in first.content]
    assert send(api, messages=[user("what is the returns policy?"), assistant(content)]).stop_reason == "end_turn"
    error = refused(api, messages=[user("what is the returns policy?"), assistant(content[:1])])
    assert "does not support assistant message prefill" in error.body["error"]["message"]  # type: ignore[index]


def test_an_unexpected_refusal_fails_the_test_when_the_fake_stops() -> None:
    fake = FakeMessagesAPI()
    with (
        pytest.raises(AssertionError, match="would refuse requests the service sent"),
        fake,
        pytest.raises(anthropic.BadRequestError),
    ):
        send(fake, messages=[user([text(" ")])])
    assert call("x").stop_reason == "tool_use"  # helpers stay importable from the server module
