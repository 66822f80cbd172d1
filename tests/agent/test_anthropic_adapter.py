"""The Anthropic adapter through the official SDK, against the local fake of the Messages API.

Two layers. First the adapter alone: what it sends (prompt-caching markers), how it reads answers (plain and
streamed), and how every failure the SDK can raise becomes one of `agent.errors`. Then the whole path a customer
message takes: the chat HTTP API, the real agent loop, the policy gate and the seeded store, with the adapter and
the SDK talking HTTP to the fake. The model's answers are scripted, so each test states one behaviour of the
service (run status, reply, stored steps) and what the model was shown (the requests the fake received).
"""

from __future__ import annotations

import gc
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlmodel import col, select

from agent.conversations.tables import Run
from agent.conversations.tables import Step as StepRow
from agent.errors import ModelError, ModelProtocolError, ModelRejected, ModelTimeout, ModelUnavailable
from agent.models.base import Message, ModelRequest, ModelResponse, TextBlock, ToolUseBlock, Usage
from agent.models.claude.adapter import STREAM_MODELS, AnthropicModel
from agent.routing.prompt_versions import PromptVersions
from agent.telemetry.recorder import Telemetry
from agent.turn import replies
from basics.principal import Principal
from testkit.fakes.anthropic_api import (
    Answer,
    Disconnect,
    FakeMessagesAPI,
    HttpError,
    OddBody,
    ReceivedRequest,
    Reply,
    Script,
    StreamCut,
    Text,
    TokenUsage,
    ToolUse,
    call,
    calls,
    overloaded,
    paused,
    say,
)
from testkit.http_server import parse_sse
from testkit.service import ServiceClient, anthropic_settings, running_service
from tools import registry

MODEL = "claude-sonnet-4-6"
JAMES = "james_li_5688"
EPHEMERAL = {"type": "ephemeral"}
STREAM = {"Accept": "text/event-stream"}
TOOLS = [
    {"name": "get_order_details", "description": "Read an order.", "input_schema": {"type": "object"}},
    {"name": "get_customer_profile", "description": "Read the customer.", "input_schema": {"type": "object"}},
]


@pytest.fixture
def api() -> Iterator[FakeMessagesAPI]:
    with FakeMessagesAPI() as fake:
        yield fake


def adapter(api: FakeMessagesAPI, *, max_retries: int = 0, timeout_s: float = 5.0) -> AnthropicModel:
    return AnthropicModel(
        MODEL, api_key="test-key", base_url=api.base_url, max_retries=max_retries, timeout_s=timeout_s
    )


def request(text: str = "Where is my order #W2611340?") -> ModelRequest:
    return ModelRequest(system="You are a support agent.", tools=TOOLS, messages=[Message.user_text(text)])


class Deltas:
    """An `on_text` sink that keeps what it was given."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    async def __call__(self, text: str) -> None:
        self.parts.append(text)


async def complete(api: FakeMessagesAPI, *, stream: bool, **options: Any) -> ModelResponse:
    model = adapter(api, **options)
    try:
        return await model.complete(request(), on_text=Deltas() if stream else None)
    finally:
        await model.close()


class ClaudeService(ServiceClient):
    """The service's client, sending each customer message as a turn answered over Server-Sent Events when
    `streaming` (the loop then streams the model's answer: the SDK's `messages.stream`), else as a turn answered
    as JSON (the model answers in one body: the SDK's `messages.create`)."""

    def __init__(self, client: ServiceClient, *, streaming: bool) -> None:
        super().__init__(client.http, client.services)
        self.streaming = streaming


@asynccontextmanager
async def claude_service(
    sqlite_url: str,
    api: FakeMessagesAPI,
    *,
    streaming: bool = True,
    max_retries: int = 0,
    timeout_s: float = 5.0,
    **settings: Any,
) -> AsyncIterator[ClaudeService]:
    """The service with Claude alone as its model (no fallback chain), the adapter pointed at the fake; its turns
    sent over SSE (`streaming`) or as JSON."""
    model = adapter(api, max_retries=max_retries, timeout_s=timeout_s)
    async with running_service(sqlite_url, model, **settings) as service:
        yield ClaudeService(service, streaming=streaming)


async def turn_events(service: ServiceClient, text: str, conversation: str) -> list[tuple[str, dict[str, Any]]]:
    """Send one customer message with `Accept: text/event-stream`; the turn's events, after checking the API
    answered 200 with an event stream ending in the run's end."""
    answer = await service.say(JAMES, conversation, text, **STREAM)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/event-stream")
    events = parse_sse(answer.text.splitlines())
    assert events and events[-1][0] in ("run.completed", "run.failed"), events
    return events


async def ask(service: ClaudeService, text: str, conversation: str | None = None) -> dict[str, Any]:
    """Send one customer message, over SSE or as JSON as the service's client does; the run, after checking the
    API answered 200 (never a 500)."""
    conversation = conversation or await service.new_conversation(JAMES)
    run: dict[str, Any]
    if service.streaming:
        run = (await turn_events(service, text, conversation))[-1][1]["run"]
    else:
        answer = await service.say(JAMES, conversation, text)
        assert answer.status_code == 200, answer.text
        run = answer.json()["run"]
    return run


async def stored_steps(service: ServiceClient) -> list[StepRow]:
    async with service.services.database.session(readonly=True) as session:
        return list((await session.exec(select(StepRow).order_by(col(StepRow.run_id), col(StepRow.position)))).all())


def last_message(sent: ReceivedRequest) -> dict[str, Any]:
    message: dict[str, Any] = sent.body["messages"][-1]
    return message


def tool_results(sent: ReceivedRequest) -> list[dict[str, Any]]:
    """The tool results of the last message the model was sent (which must be the user's)."""
    message = last_message(sent)
    assert message["role"] == "user"
    return [block for block in message["content"] if block["type"] == "tool_result"]


def error_of(result: dict[str, Any]) -> dict[str, Any]:
    assert result["is_error"] is True
    error: dict[str, Any] = json.loads(result["content"])["error"]
    return error


# --- the adapter alone ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["create", "stream"])
async def test_the_system_prompt_and_the_last_tool_are_marked_for_caching(api: FakeMessagesAPI, stream: bool) -> None:
    api.add(say("Hi"))
    await complete(api, stream=stream)
    body = api.requests[0].body
    assert body["system"] == [{"type": "text", "text": "You are a support agent.", "cache_control": EPHEMERAL}]
    assert [tool.get("cache_control") for tool in body["tools"]] == [None, EPHEMERAL]
    assert [tool["name"] for tool in body["tools"]] == ["get_order_details", "get_customer_profile"]
    # The history's breakpoint moves with the conversation: here, on the only message.
    question = {"type": "text", "text": "Where is my order #W2611340?", "cache_control": EPHEMERAL}
    assert body["messages"] == [{"role": "user", "content": [question]}]
    assert (body["model"], body["max_tokens"], body.get("stream", False)) == (MODEL, 1024, stream)
    assert TOOLS[-1].get("cache_control") is None  # the caller's tool list is not modified


@pytest.mark.parametrize("stream", [False, True], ids=["create", "stream"])
async def test_an_answer_is_read_into_the_models_interface(api: FakeMessagesAPI, stream: bool) -> None:
    usage = TokenUsage(120, 45, cache_read_input_tokens=2000, cache_creation_input_tokens=300)
    api.add(call("get_order_details", {"order_id": "#W2611340"}, call_id="toolu_01", text="Let me look.", usage=usage))
    response = await complete(api, stream=stream)
    assert response == ModelResponse(
        content=(
            TextBlock("Let me look."),
            ToolUseBlock(id="toolu_01", name="get_order_details", input={"order_id": "#W2611340"}),
        ),
        stop_reason="tool_use",
        usage=Usage(120, 45, cache_read_input_tokens=2000, cache_creation_input_tokens=300),
        model=MODEL,
    )


async def test_streamed_text_reaches_on_text_as_it_arrives(api: FakeMessagesAPI) -> None:
    api.add(say("Your order #W2611340 has been processed and is on its way to you."))
    model = adapter(api)
    deltas = Deltas()
    response = await model.complete(request(), on_text=deltas)
    await model.close()
    assert len(deltas.parts) >= 2
    assert "".join(deltas.parts) == response.text == "Your order #W2611340 has been processed and is on its way to you."
    assert api.requests[0].streamed


async def test_the_sdk_retries_and_the_adapter_adds_no_retry_of_its_own(api: FakeMessagesAPI) -> None:
    api.add(overloaded(), HttpError(429, retry_after=0.001), say("Back again."))
    response = await complete(api, stream=True, max_retries=2)
    assert response.text == "Back again."
    assert [r.attempt for r in api.requests] == [0, 1, 2]

    api.add(*[overloaded()] * 3)
    with pytest.raises(ModelUnavailable, match="529"):
        await complete(api, stream=True, max_retries=2)
    assert len(api.requests) == 6  # three attempts each: the SDK's, and only the SDK's
    api.assert_done()


FAILURES: list[tuple[str, list[Script], type[ModelError]]] = [
    ("400-bad-request", [HttpError(400, "messages: roles must alternate")], ModelProtocolError),
    ("413-too-large", [HttpError(413, "request too large")], ModelProtocolError),
    ("401-bad-key", [HttpError(401, "invalid x-api-key")], ModelRejected),
    ("429-rate-limited", [HttpError(429, retry_after=0.001)] * 2, ModelUnavailable),
    ("500-api-error", [HttpError(500, retry_after=0.001)] * 2, ModelUnavailable),
    ("529-overloaded", [overloaded()] * 2, ModelUnavailable),
    ("connection-dropped", [Disconnect()], ModelUnavailable),
    ("no-answer-in-time", [say("late", delay_s=60)], ModelTimeout),
]


@pytest.mark.parametrize("stream", [False, True], ids=["create", "stream"])
@pytest.mark.parametrize(("script", "expected"), [f[1:] for f in FAILURES], ids=[f[0] for f in FAILURES])
async def test_every_failure_becomes_a_model_error(
    api: FakeMessagesAPI, stream: bool, script: list[Script], expected: type[ModelError]
) -> None:
    api.add(*script)
    # A short timeout only where timing out is the point: elsewhere a loaded machine must not turn the expected
    # error into a connect timeout.
    timeout_s = 0.2 if expected is ModelTimeout else 10.0
    with pytest.raises(expected):
        await complete(api, stream=stream, max_retries=len(script) - 1, timeout_s=timeout_s)
    api.assert_done()


def broken_tool_input() -> Reply:
    return Reply(content=(ToolUse("get_order_details", raw_json=('{"order_id": ', "banana}")),), stop_reason="tool_use")


STREAM_FAULTS: list[tuple[str, Answer, type[ModelError]]] = [
    ("invalid-tool-json", broken_tool_input(), ModelProtocolError),
    ("error-event", say("one two three four", cut=StreamCut(3, "error")), ModelUnavailable),
    ("dropped-mid-way", say("one two three four", cut=StreamCut(4, "drop")), ModelError),
    ("ended-before-message-stop", say("one two three four", cut=StreamCut(4, "end")), ModelUnavailable),
    ("stalled-mid-way", say("one two three four", cut=StreamCut(4, "stall")), ModelTimeout),
]


@pytest.mark.parametrize(("answer", "expected"), [f[1:] for f in STREAM_FAULTS], ids=[f[0] for f in STREAM_FAULTS])
async def test_a_broken_stream_becomes_a_model_error(
    api: FakeMessagesAPI, answer: Answer, expected: type[ModelError]
) -> None:
    """A stream can fail after the HTTP status said 200; whatever the SDK or its transport raises then must still
    reach the loop as a `ModelError`, never as a partial answer or a foreign exception (which would be a 500)."""
    api.add(answer)
    with pytest.raises(expected):
        await complete(api, stream=True, timeout_s=0.2 if expected is ModelTimeout else 10.0)


async def test_invalid_json_in_a_plain_response_is_a_protocol_error(api: FakeMessagesAPI) -> None:
    api.add(broken_tool_input())
    with pytest.raises(ModelProtocolError):
        await complete(api, stream=False)


@pytest.mark.parametrize(
    "body",
    [
        b"[]",
        b'"a message"',
        b'{"content": "hello", "stop_reason": "end_turn"}',
        b'{"content": [{"type": "text", "text": 5}], "stop_reason": "end_turn"}',
        b'{"content": [], "usage": [1, 2], "stop_reason": "end_turn"}',
    ],
    ids=["a-list", "a-string", "content-not-a-list", "text-not-a-string", "usage-not-an-object"],
)
async def test_a_plain_answer_that_is_not_a_message_is_a_protocol_error(api: FakeMessagesAPI, body: bytes) -> None:
    """The answer is read from its JSON body (not the SDK's typed model): a body of the wrong shape is the
    model's malformed answer, never a crash of the run."""
    api.add(OddBody(body))
    with pytest.raises(ModelProtocolError):
        await complete(api, stream=False)


# --- through the chat API and the agent loop --------------------------------------------------------------------


def cached_prefix_bytes(sent: ReceivedRequest) -> bytes:
    """The bytes of `system` and `tools` as sent (the SDK writes top-level keys in order; they come last)."""
    _, marker, rest = sent.raw_body.partition(b'"system":')
    assert marker and rest.rstrip().endswith(b"}"), sent.raw_body[:200]
    return rest


async def test_the_cached_prefix_is_marked_and_byte_identical_across_turns(
    sqlite_url: str, api: FakeMessagesAPI
) -> None:
    api.add(
        call("get_order_details", {"order_id": "#W2611340"}),
        say("Your order #W2611340 has been processed."),
        say("You're welcome!"),
    )
    async with claude_service(sqlite_url, api) as service:
        conversation = await service.new_conversation(JAMES)
        await ask(service, "Where is my order #W2611340?", conversation)
        await ask(service, "Thanks!", conversation)
    sent = api.requests
    assert len(sent) == 3
    system = PromptVersions.load(registry).live.system
    for each in sent:
        assert each.body["system"] == [{"type": "text", "text": system, "cache_control": EPHEMERAL}]
        tools = each.body["tools"]
        assert len(tools) > 5 and "cache_control" not in json.dumps(tools[:-1])
        assert tools[-1]["cache_control"] == EPHEMERAL
    assert len({cached_prefix_bytes(each) for each in sent}) == 1
    # The conversation grows after the prefix: the second turn carries the first one's history.
    assert len(sent[2].body["messages"]) == 5
    api.assert_done()


@pytest.mark.parametrize("streaming", [True, False], ids=["stream", "create"])
async def test_a_tool_call_then_an_answer(sqlite_url: str, api: FakeMessagesAPI, streaming: bool) -> None:
    def from_the_tool_result(body: dict[str, Any]) -> Reply:
        (result,) = [b for b in body["messages"][-1]["content"] if b["type"] == "tool_result"]
        order = json.loads(result["content"])
        return say(f"Your order {order['order_id']} is {order['status']}.", usage=TokenUsage(1500, 30))

    api.add(
        call("get_order_details", {"order_id": "#W2611340"}, call_id="toolu_order", usage=TokenUsage(1000, 40)),
        from_the_tool_result,
    )
    async with claude_service(sqlite_url, api, streaming=streaming) as service:
        run = await ask(service, "Where is my order #W2611340?")
        steps = await stored_steps(service)
    assert run["status"] == "completed"
    assert run["reply"] == "Your order #W2611340 is processed."
    assert run["model"] == {"provider": "anthropic", "name": MODEL}
    usage = run["usage"]
    assert (usage["model_calls"], usage["input_tokens"], usage["output_tokens"]) == (2, 2500, 70)
    assert usage["cost_usd"] == pytest.approx((2500 * 3 + 70 * 15) / 1_000_000)  # priced as a Sonnet model
    assert [(s.kind, s.stop_reason, s.tool, s.decision, s.is_error) for s in steps] == [
        ("model", "tool_use", None, None, False),
        ("tool", None, "get_order_details", "allow", False),
        ("model", "end_turn", None, None, False),
    ]
    assert steps[0].model == MODEL and steps[1].tool_use_id == "toolu_order"

    first, second = api.requests
    assert first.streamed is streaming and second.streamed is streaming
    assert second.body["messages"][1] == {
        "role": "assistant",
        "content": [
            {"type": "tool_use", "id": "toolu_order", "name": "get_order_details", "input": {"order_id": "#W2611340"}}
        ],
    }
    (result,) = tool_results(second)
    assert result["tool_use_id"] == "toolu_order" and result["is_error"] is False
    api.assert_done()


async def test_only_a_turn_answered_over_sse_streams_from_the_model(sqlite_url: str, api: FakeMessagesAPI) -> None:
    """Nobody reads the words of a turn answered as JSON as they come, so its model calls ask for one plain body
    (no `stream`), which spares the service parsing a stream of events; a turn answered over SSE streams every
    call, and its deltas make the reply. As deployed: Claude first in the fallback chain."""
    api.add(
        call("get_order_details", {"order_id": "#W2611340"}),
        say("Your order #W2611340 has been processed."),
        call("get_order_details", {"order_id": "#W2611340"}),
        say("It is still processed, and on its way."),
    )
    async with running_service(sqlite_url, **anthropic_settings(api.base_url)) as service:
        conversation = await service.new_conversation(JAMES)
        plain = await ask(ClaudeService(service, streaming=False), "Where is my order #W2611340?", conversation)
        events = await turn_events(service, "And now?", conversation)
    assert (plain["status"], plain["reply"], plain["model"]["provider"]) == (
        "completed",
        "Your order #W2611340 has been processed.",
        "anthropic",
    )
    streamed = events[-1][1]["run"]
    assert (streamed["status"], streamed["reply"]) == ("completed", "It is still processed, and on its way.")
    assert "".join(data["text"] for name, data in events if name == "message.delta") == streamed["reply"]
    sent = api.requests
    assert [r.body.get("stream") for r in sent] == [None, None, True, True]
    assert [r.streamed for r in sent] == [False, False, True, True]
    api.assert_done()


async def test_streamed_text_reaches_the_loops_events(sqlite_url: str, api: FakeMessagesAPI) -> None:
    api.add(say("Your order #W2611340 has been processed and is on its way."))
    events: list[tuple[str, dict[str, Any]]] = []

    async def sink(kind: str, data: dict[str, Any]) -> None:
        events.append((kind, data))

    async with claude_service(sqlite_url, api) as service:
        conversation = await service.new_conversation(JAMES)
        services = service.services
        stored = await services.runs.conversation_for(conversation, Principal.customer(JAMES))
        run = (await services.runs.start_turn(stored, "Where is my order?")).run
        result = await services.loop.answer(run, "Where is my order?", events=sink)
    deltas = [data["text"] for kind, data in events if kind == "message.delta"]
    assert len(deltas) >= 2 and "".join(deltas) == result.run.reply
    assert result.run.status == "completed"


async def test_two_tool_calls_in_one_answer_are_answered_together_in_order(
    sqlite_url: str, api: FakeMessagesAPI
) -> None:
    api.add(
        calls(
            ToolUse("get_order_details", {"order_id": "#W3632959"}, id="toolu_b"),
            ToolUse("get_order_details", {"order_id": "#W2611340"}, id="toolu_a"),
            text="Let me check both orders.",
        ),
        say("Both orders are on their way."),
    )
    async with claude_service(sqlite_url, api) as service:
        run = await ask(service, "Where are #W3632959 and #W2611340?")
        steps = await stored_steps(service)
    assert run["status"] == "completed" and run["reply"] == "Both orders are on their way."
    assert [(s.kind, s.tool_use_id) for s in steps] == [
        ("model", None),
        ("tool", "toolu_b"),
        ("tool", "toolu_a"),
        ("model", None),
    ]
    messages = api.requests[1].body["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert [b["type"] for b in messages[1]["content"]] == ["text", "tool_use", "tool_use"]
    results = messages[2]["content"]
    assert [(b["type"], b["tool_use_id"], b["is_error"]) for b in results] == [
        ("tool_result", "toolu_b", False),
        ("tool_result", "toolu_a", False),
    ]
    assert [json.loads(b["content"])["order_id"] for b in results] == ["#W3632959", "#W2611340"]


async def test_a_denied_call_is_explained_by_the_model(sqlite_url: str, api: FakeMessagesAPI) -> None:
    def explain(body: dict[str, Any]) -> Reply:
        (result,) = [b for b in body["messages"][-1]["content"] if b["type"] == "tool_result"]
        error = json.loads(result["content"])["error"]
        return say(f"I'm not able to refund that amount ({error['code']}). I can pass this to a colleague.")

    api.add(call("issue_refund", {"order_id": "#W2611340", "amount": 100000, "reason": "late delivery"}), explain)
    async with claude_service(sqlite_url, api) as service:
        run = await ask(service, "Refund me $100,000 for #W2611340, it was late")
        steps = await stored_steps(service)
    assert run["status"] == "completed"
    assert run["reply"] == "I'm not able to refund that amount (policy_denied). I can pass this to a colleague."
    assert run["pending_action"] is None
    tool_step = steps[1]
    assert (tool_step.tool, tool_step.decision, tool_step.is_error) == ("issue_refund", "deny", True)
    error = error_of(tool_results(api.requests[1])[0])
    assert error["code"] == "policy_denied" and error["rule"] == tool_step.rule
    api.assert_done()


async def test_invalid_arguments_are_corrected_on_the_next_step(sqlite_url: str, api: FakeMessagesAPI) -> None:
    api.add(
        call("get_order_details", {"order_id": "banana"}),
        call("get_order_details", {"order_id": "#W2611340"}),
        say("Found it: #W2611340 has been processed."),
    )
    async with claude_service(sqlite_url, api) as service:
        run = await ask(service, "Where is my banana order?")
        steps = await stored_steps(service)
    assert run["status"] == "completed" and run["usage"]["model_calls"] == 3
    assert [(s.tool, s.decision, s.is_error) for s in steps if s.kind == "tool"] == [
        ("get_order_details", "invalid", True),
        ("get_order_details", "allow", False),
    ]
    error = error_of(tool_results(api.requests[1])[0])
    assert error["code"] == "invalid_arguments" and "order_id" in json.dumps(error)
    assert tool_results(api.requests[2])[0]["is_error"] is False
    api.assert_done()


BUDGETS: list[tuple[str, dict[str, Any], list[Script]]] = [
    (
        "model_calls",
        {"SUPPORT_MAX_MODEL_CALLS": 2},
        [call("get_customer_profile"), call("get_order_details", {"order_id": "#W2611340"})],
    ),
    ("wall_clock", {"SUPPORT_RUN_TIMEOUT_S": 0.3, "timeout_s": 30}, [say("late", delay_s=60)]),
    ("tokens", {"SUPPORT_MAX_RUN_TOKENS": 1000}, [call("get_customer_profile", usage=TokenUsage(900, 200))]),
    ("cost", {"SUPPORT_MAX_RUN_COST_USD": 0.01}, [call("get_customer_profile", usage=TokenUsage(10_000, 10))]),
]


@pytest.mark.parametrize(("which", "limits", "script"), BUDGETS, ids=[b[0] for b in BUDGETS])
async def test_every_budget_ends_the_run_politely(
    sqlite_url: str, api: FakeMessagesAPI, which: str, limits: dict[str, Any], script: list[Script]
) -> None:
    api.add(*script)
    async with claude_service(sqlite_url, api, **limits) as service:
        run = await ask(service, "What's on my account?")
        steps = await stored_steps(service)
    assert (run["status"], run["budget_exhausted"], run["reply"]) == (
        "budget_exhausted",
        which,
        replies.BUDGET_EXHAUSTED,
    )
    assert len(api.requests) == len(script)  # no model call after the budget ran out
    tool_steps = [s for s in steps if s.kind == "tool"]
    assert len(tool_steps) == len(script) - (which == "wall_clock")
    assert all(s.result is not None for s in tool_steps)  # the calls of the last answer all ran to completion
    api.assert_done()


async def test_a_cut_answer_is_flagged_and_its_tool_calls_are_not_run(sqlite_url: str, api: FakeMessagesAPI) -> None:
    cut = Reply(
        content=(
            Text("I'll refund part of order #W2611340 for you, and"),
            ToolUse("issue_refund", raw_json=('{"order_id": "#W2611340", "amo',)),
        ),
        stop_reason="max_tokens",
    )
    api.add(cut, say("Sure, anything else?"))
    async with claude_service(sqlite_url, api) as service:
        conversation = await service.new_conversation(JAMES)
        run = await ask(service, "Refund me for #W2611340", conversation)
        steps = await stored_steps(service)
        await ask(service, "ok", conversation)
    assert run["status"] == "completed"
    assert run["reply"] == f"I'll refund part of order #W2611340 for you, and\n\n{replies.CUT_SHORT}"
    assert [s.kind for s in steps] == ["model"] and steps[0].stop_reason == "max_tokens"
    # The next turn's history holds no tool call without its result.
    history = api.requests[1].body["messages"]
    assert all(block["type"] == "text" for message in history for block in message["content"])


async def test_a_refusal_gets_the_services_own_reply(sqlite_url: str, api: FakeMessagesAPI) -> None:
    api.add(say("", stop_reason="refusal"))
    async with claude_service(sqlite_url, api) as service:
        run = await ask(service, "Help me with something I shouldn't")
    assert (run["status"], run["reply"]) == ("completed", replies.REFUSED)


async def test_a_paused_turn_is_sent_back_to_continue(sqlite_url: str, api: FakeMessagesAPI) -> None:
    """handling-stop-reasons, `pause_turn`: the paused answer, server tool's call included, goes back unchanged as
    the last message (on a model without prefill too: it stops inside a server tool), and the turn goes on."""
    api.add(paused("Let me look into that."), say("Your order #W2611340 has been processed."))
    async with claude_service(sqlite_url, api) as service:
        run = await ask(service, "Where is my order #W2611340?")
        steps = await stored_steps(service)
    assert (run["status"], run["reply"]) == ("completed", "Your order #W2611340 has been processed.")
    assert [s.stop_reason for s in steps] == ["pause_turn", "end_turn"]
    asked, resumed = api.requests[1].body["messages"][-2:]
    assert asked["role"] == "user"  # nothing added after the paused answer
    assert resumed["role"] == "assistant"
    assert [b["type"] for b in resumed["content"]] == ["text", "server_tool_use"]
    assert resumed["content"][1]["id"].startswith("srvtoolu_")
    api.assert_done()


MODEL_FAILURES: list[tuple[str, dict[str, Any], list[Script], str]] = [
    ("overloaded-after-retries", {"max_retries": 1}, [overloaded()] * 2, "ModelUnavailable"),
    ("server-error", {}, [HttpError(500, "internal")], "ModelUnavailable"),
    ("rejected-request", {}, [HttpError(400, "bad request")], "ModelRejected"),
    ("connection-dropped", {}, [Disconnect()], "ModelUnavailable"),
    ("too-slow", {"timeout_s": 0.2}, [say("late", delay_s=60)], "ModelTimeout"),
    ("invalid-tool-json", {}, [broken_tool_input()], "ModelProtocolError"),
    ("error-event", {}, [say("a b c d", cut=StreamCut(3, "error"))], "ModelUnavailable"),
    ("stream-dropped", {}, [say("a b c d", cut=StreamCut(4, "drop"))], "Model"),
    ("stream-ended-early", {}, [say("Your order is a b c d", cut=StreamCut(4, "end"))], "ModelUnavailable"),
    ("stream-stalled", {"timeout_s": 0.2}, [say("a b c d", cut=StreamCut(4, "stall"))], "ModelTimeout"),
]


@pytest.mark.parametrize(
    ("settings", "script", "error"), [f[1:] for f in MODEL_FAILURES], ids=[f[0] for f in MODEL_FAILURES]
)
async def test_a_model_failure_is_a_failed_run_with_a_polite_reply(
    sqlite_url: str, api: FakeMessagesAPI, settings: dict[str, Any], script: list[Script], error: str
) -> None:
    api.add(*script)
    async with claude_service(sqlite_url, api, **settings) as service:
        conversation = await service.new_conversation(JAMES)
        run = await ask(service, "Please keep this message", conversation)
        assert (run["status"], run["reply"]) == ("failed", replies.MODEL_FAILED)
        async with service.services.database.session(readonly=True) as session:
            stored = (await session.exec(select(Run))).one()
        assert stored.error is not None and stored.error.startswith(error), stored.error
        messages = await service.services.runs.messages(conversation)
        assert [(m.role, m.content) for m in messages] == [
            ("customer", "Please keep this message"),
            ("assistant", replies.MODEL_FAILED),
        ]
        # The conversation is free again, and the provider's recovery is the service's.
        api.add(say("Hello again!"))
        assert (await ask(service, "hello?", conversation))["reply"] == "Hello again!"
    assert len(api.requests) == len(script) + 1
    api.assert_done()


async def test_the_configured_service_talks_to_claude_and_falls_back_when_it_fails(
    sqlite_url: str, api: FakeMessagesAPI
) -> None:
    """As deployed: `SUPPORT_MODEL=anthropic:...` with the key and base URL from settings. Claude answers the
    first message; when it is overloaded, the chain's last link (the offline model) answers instead."""
    api.add(say("Your order #W2611340 has been processed."), *[overloaded()] * 2)
    async with running_service(sqlite_url, **anthropic_settings(api.base_url, max_retries=1)) as served:
        service = ClaudeService(served, streaming=True)
        conversation = await service.new_conversation(JAMES)
        first = await ask(service, "Where is my order #W2611340?", conversation)
        second = await ask(service, "hello", conversation)
    assert (first["status"], first["reply"]) == ("completed", "Your order #W2611340 has been processed.")
    assert second["status"] == "completed" and "limited mode" in second["reply"]
    sent = api.requests
    assert [r.attempt for r in sent] == [0, 0, 1]
    # This SDK version sends the API key as a bearer token.
    assert all(r.streamed and r.headers.get("authorization") == "Bearer test-key" for r in sent)
    api.assert_done()


@pytest.mark.parametrize("streaming", [True, False], ids=["stream", "plain"])
async def test_each_claude_call_is_a_chat_span_with_the_sdks_span_inside(
    sqlite_url: str, api: FakeMessagesAPI, streaming: bool
) -> None:
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    api.add(say("Hello.", usage=TokenUsage(20, 5, cache_read_input_tokens=900, cache_creation_input_tokens=80)))
    model = AnthropicModel(MODEL, api_key="test-key", base_url=api.base_url, max_retries=0, tracer_provider=provider)
    async with running_service(sqlite_url, model, telemetry=Telemetry(provider, capture_content=False)) as served:
        run = await ask(ClaudeService(served, streaming=streaming), "hi")
    provider.shutdown()
    assert run["status"] == "completed"
    assert api.requests[0].streamed is streaming
    finished = spans.get_finished_spans()
    [chat] = [s for s in finished if s.name == f"chat {MODEL}"]
    [sdk] = [s for s in finished if s.name == "anthropic.messages.create"]
    [agent_run] = [s for s in finished if s.name == "invoke_agent support"]
    assert chat.parent is not None and chat.parent.span_id == agent_run.context.span_id
    assert sdk.parent is not None and sdk.parent.span_id == chat.context.span_id
    # The SDK's span describes the request and its usage whether the SDK encoded the body (a stream) or not.
    assert (sdk.attributes or {})["gen_ai.request.model"] == MODEL
    assert (sdk.attributes or {})["gen_ai.request.max_tokens"] > 0
    assert (sdk.attributes or {})["gen_ai.usage.cache_read.input_tokens"] == 900
    # Both spans name the conversation: a plain call through its own span attributes, a stream through a copy of
    # the client made for it.
    assert (sdk.attributes or {})["gen_ai.conversation.id"] == (chat.attributes or {})["gen_ai.conversation.id"]
    assert str((chat.attributes or {})["gen_ai.conversation.id"]).startswith("conv_")
    assert (chat.attributes or {})["gen_ai.usage.input_tokens"] == 1000  # 20 + cache reads 900 + cache writes 80
    assert (chat.attributes or {})["gen_ai.provider.name"] == "anthropic"


def test_the_generic_models_the_sdks_stream_names_are_built_once_per_process() -> None:
    """pydantic caches them weakly: without the adapter's hold, a collection drops them and the next stream
    event builds a new model class."""
    from anthropic.lib.streaming import _messages as stream

    gc.collect()
    assert stream.ParsedMessage[stream.ResponseFormatT] is STREAM_MODELS[0]
    assert stream.ParsedMessageStopEvent[stream.ResponseFormatT] is STREAM_MODELS[1]
