"""The fake Messages API through the official SDK: if the SDK reads the fake as it reads the real API, tests that
use the fake test the adapter, not a mock. Each test states what the SDK sees for one kind of reply or fault."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx2
import pytest

from testkit.fakes.anthropic_api import (
    Disconnect,
    FakeMessagesAPI,
    HttpError,
    Reply,
    StreamCut,
    Text,
    TokenUsage,
    ToolUse,
    call,
    calls,
    cut_call,
    overloaded,
    paused,
    prompt_too_long,
    rate_limited,
    refusal,
    say,
    stream_events,
    thought,
    too_large,
    window_full,
)

MODEL = "claude-sonnet-4-6"
HELLO: list[anthropic.types.MessageParam] = [{"role": "user", "content": "hello"}]


@pytest.fixture
def api() -> Iterator[FakeMessagesAPI]:
    with FakeMessagesAPI() as fake:
        yield fake


def client(api: FakeMessagesAPI, *, max_retries: int = 0, timeout: float = 5.0) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(api_key="test-key", base_url=api.base_url, max_retries=max_retries, timeout=timeout)


async def create(api: FakeMessagesAPI, **options: Any) -> Any:
    """One non-streamed request; the message as the SDK parsed it (typed loosely: tests read known blocks)."""
    async with client(api, **options) as sdk:
        return await sdk.messages.create(model=MODEL, max_tokens=256, messages=HELLO)


async def stream(api: FakeMessagesAPI, **options: Any) -> tuple[list[str], list[str], Any]:
    """Stream one answer: the SDK's event types, the text deltas, and the final message."""
    kinds: list[str] = []
    texts: list[str] = []
    async with (
        client(api, **options) as sdk,
        sdk.messages.stream(model=MODEL, max_tokens=256, messages=HELLO) as events,
    ):
        async for event in events:
            kinds.append(event.type)
            if event.type == "text":
                texts.append(event.text)
        final = await events.get_final_message()
    return kinds, texts, final


async def test_a_text_answer_without_streaming(api: FakeMessagesAPI) -> None:
    api.add(say("Hello! How can I help?", usage=TokenUsage(12, 7, cache_read_input_tokens=300)))
    message = await create(api)
    assert message.type == "message" and message.role == "assistant"
    assert message.model == MODEL  # echoed from the request
    assert [(b.type, getattr(b, "text", None)) for b in message.content] == [("text", "Hello! How can I help?")]
    assert message.stop_reason == "end_turn" and message.stop_sequence is None
    usage = message.usage
    assert (usage.input_tokens, usage.output_tokens, usage.cache_read_input_tokens) == (12, 7, 300)
    assert message.id.startswith("msg_")

    (request,) = api.requests
    assert (request.method, request.path, request.streamed, request.attempt) == ("POST", "/v1/messages", False, 0)
    assert request.body == {"model": MODEL, "max_tokens": 256, "messages": HELLO}
    assert request.headers["anthropic-version"]
    api.assert_done()


async def test_tool_calls_without_streaming(api: FakeMessagesAPI) -> None:
    api.add(calls(ToolUse("lookup", {"id": 1}, id="toolu_a"), ToolUse("lookup", {"id": 2}), text="Checking."))
    message = await create(api)
    assert message.stop_reason == "tool_use"
    text, first, second = message.content
    assert text.type == "text" and text.text == "Checking."
    assert first.type == "tool_use" and (first.id, first.name, first.input) == ("toolu_a", "lookup", {"id": 1})
    assert second.type == "tool_use" and second.id.startswith("toolu_") and second.input == {"id": 2}


async def test_a_streamed_text_answer_arrives_in_several_deltas(api: FakeMessagesAPI) -> None:
    api.add(say("Your order has shipped and should arrive on Tuesday.", usage=TokenUsage(40, 11)))
    kinds, texts, final = await stream(api)
    assert len(texts) >= 2
    assert "".join(texts) == "Your order has shipped and should arrive on Tuesday."
    assert kinds[0] == "message_start" and kinds[-2:] == ["message_delta", "message_stop"]
    assert final.content[0].text == "Your order has shipped and should arrive on Tuesday."
    assert final.stop_reason == "end_turn"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (40, 11)  # message_delta carries the totals
    assert api.requests[0].streamed and api.requests[0].body["stream"] is True


async def test_a_streamed_tool_call_is_sent_as_json_fragments(api: FakeMessagesAPI) -> None:
    arguments = {"order_id": "#W2611340", "reason": "no longer needed", "items": [1, 2, 3]}
    api.add(call("cancel_pending_order", arguments, call_id="toolu_01", text="Let me cancel that."))
    kinds, texts, final = await stream(api)
    assert kinds.count("input_json") >= 2  # the SDK rebuilt the input from several partial_json deltas
    assert "".join(texts) == "Let me cancel that."
    assert final.stop_reason == "tool_use"
    use = final.content[1]
    assert (use.type, use.id, use.name, use.input) == ("tool_use", "toolu_01", "cancel_pending_order", arguments)


def test_the_event_sequence_is_the_apis() -> None:
    reply = Reply(content=(Text("a b"), ToolUse("t", {"x": 1}, id="toolu_x")), stop_reason="tool_use")
    names = [name for name, _ in stream_events(reply, MODEL)]
    assert names[:2] == ["message_start", "ping"]
    assert names[-2:] == ["message_delta", "message_stop"]
    blocks = names[2:-2]
    assert blocks[0] == "content_block_start" and blocks[-1] == "content_block_stop"
    assert blocks.count("content_block_start") == blocks.count("content_block_stop") == 2
    events = dict(stream_events(reply, MODEL))
    assert events["message_delta"]["delta"]["stop_reason"] == "tool_use"
    assert events["message_start"]["message"]["stop_reason"] is None


@pytest.mark.parametrize("stop_reason", ["max_tokens", "refusal", "pause_turn", "stop_sequence"])
async def test_any_stop_reason_reaches_the_sdk(api: FakeMessagesAPI, stop_reason: str) -> None:
    api.add(say("partial", stop_reason=stop_reason), say("partial", stop_reason=stop_reason))
    assert (await create(api)).stop_reason == stop_reason
    assert (await stream(api))[2].stop_reason == stop_reason


@pytest.mark.parametrize(
    ("status", "error_class", "error_type"),
    [
        (400, anthropic.BadRequestError, "invalid_request_error"),
        (401, anthropic.AuthenticationError, "authentication_error"),
        (413, anthropic.ContentTooLargeError, "request_too_large"),
        (429, anthropic.RateLimitError, "rate_limit_error"),
        (500, anthropic.InternalServerError, "api_error"),
        (529, anthropic.OverloadedError, "overloaded_error"),
    ],
)
async def test_error_statuses_reach_the_sdk_as_its_exception_classes(
    api: FakeMessagesAPI, status: int, error_class: type[anthropic.APIStatusError], error_type: str
) -> None:
    api.add(HttpError(status, "something went wrong", retry_after=7))
    with pytest.raises(error_class) as raised:
        await create(api, max_retries=0)
    error = raised.value
    assert error.status_code == status
    assert error.body == {"type": "error", "error": {"type": error_type, "message": "something went wrong"}}
    assert error.response.headers["retry-after"] == "7"
    assert error.request_id is not None and error.request_id.startswith("req_")


async def test_the_sdk_retries_an_overloaded_api_as_told(api: FakeMessagesAPI) -> None:
    api.add(overloaded(), HttpError(429, retry_after_ms=1), say("third time lucky"))
    message = await create(api, max_retries=2)
    assert message.content[0].text == "third time lucky"
    attempts = api.requests
    assert [r.attempt for r in attempts] == [0, 1, 2]
    assert len({r.raw_body for r in attempts}) == 1  # the same request each time


async def test_x_should_retry_false_stops_the_sdk_retrying(api: FakeMessagesAPI) -> None:
    api.add(HttpError(529, should_retry=False))
    with pytest.raises(anthropic.OverloadedError):
        await create(api, max_retries=2)
    assert len(api.requests) == 1


async def test_a_dropped_connection_is_a_connection_error_and_is_retried(api: FakeMessagesAPI) -> None:
    api.add(Disconnect(), Disconnect())
    with pytest.raises(anthropic.APIConnectionError) as raised:
        await create(api, max_retries=1)
    assert not isinstance(raised.value, anthropic.APITimeoutError)
    assert len(api.requests) == 2


async def test_a_delayed_answer_times_the_client_out_and_frees_the_fake(api: FakeMessagesAPI) -> None:
    api.add(say("too late", delay_s=60), say("on time"))
    with pytest.raises(anthropic.APITimeoutError):
        await create(api, max_retries=0, timeout=0.2)
    # The held answer ended when the client hung up: the next request is answered at once.
    assert (await create(api)).content[0].text == "on time"


async def test_a_stream_dropped_mid_way_fails_in_the_transport(api: FakeMessagesAPI) -> None:
    """The SDK lets a transport error raised while reading a stream through as httpx2's own exception."""
    api.add(say("one two three four five six", cut=StreamCut(after_events=4, how="drop")))
    with pytest.raises(httpx2.RemoteProtocolError):
        await stream(api)


async def test_a_stream_that_ends_early_has_no_stop_reason(api: FakeMessagesAPI) -> None:
    """A body that ends cleanly before `message_stop` is accepted by the SDK: only the missing stop reason tells."""
    api.add(say("one two three four five six", cut=StreamCut(after_events=4, how="end")))
    kinds, texts, final = await stream(api)
    assert "message_stop" not in kinds
    assert final.stop_reason is None
    assert "".join(texts) == final.content[0].text != "one two three four five six"


async def test_an_error_event_mid_stream_is_a_status_error(api: FakeMessagesAPI) -> None:
    api.add(say("one two three", cut=StreamCut(after_events=3, how="error")))
    with pytest.raises(anthropic.APIStatusError) as raised:
        await stream(api)
    assert raised.value.body == {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}


async def test_a_stream_that_stalls_times_out_in_the_transport(api: FakeMessagesAPI) -> None:
    api.add(say("one two three", cut=StreamCut(after_events=3, how="stall")))
    with pytest.raises(httpx2.ReadTimeout):
        await stream(api, timeout=0.2)


async def test_invalid_json_in_a_tool_input_fails_in_the_sdk(api: FakeMessagesAPI) -> None:
    broken = Reply(content=(ToolUse("lookup", raw_json=('{"order_id": ', "banana}")),), stop_reason="tool_use")
    api.add(broken, broken)
    with pytest.raises(ValueError, match="Unable to parse tool parameter JSON"):
        await stream(api)
    with pytest.raises(ValueError, match="Expecting value"):  # not streamed: the whole body is not JSON
        await create(api)


async def test_a_callable_reply_answers_from_the_request(api: FakeMessagesAPI) -> None:
    def echo(body: dict[str, Any]) -> Reply:
        return say(f"you said {body['messages'][-1]['content']!r}")

    api.add(echo)
    assert (await create(api)).content[0].text == "you said 'hello'"
    api.assert_done()


async def test_a_failing_callable_and_an_empty_script_are_reported(api: FakeMessagesAPI) -> None:
    def broken(body: dict[str, Any]) -> Reply:
        raise KeyError("tool_result")

    api.add(broken)
    with pytest.raises(anthropic.BadRequestError, match="raised KeyError"):
        await create(api, max_retries=2)
    with pytest.raises(anthropic.BadRequestError, match="script is empty"):
        await create(api, max_retries=2)
    assert len(api.requests) == 2  # neither was retried
    with pytest.raises(AssertionError, match="raised KeyError"):
        api.assert_done()


async def test_unused_replies_are_reported(api: FakeMessagesAPI) -> None:
    api.add(say("never asked for"))
    with pytest.raises(AssertionError, match="1 scripted replies were never requested"):
        api.assert_done()


async def test_stopping_releases_a_held_request() -> None:
    fake = FakeMessagesAPI(say("held", delay_s=60)).start()
    sdk = client(fake, max_retries=0)
    pending = asyncio.create_task(sdk.messages.create(model=MODEL, max_tokens=8, messages=HELLO))
    await asyncio.to_thread(fake.wait_for_requests, 1)
    await asyncio.to_thread(fake.stop)
    with pytest.raises(anthropic.APIConnectionError):
        await pending
    await sdk.close()


def test_the_sync_client_works_too(api: FakeMessagesAPI) -> None:
    api.add(say("hi from a thread"))
    with anthropic.Anthropic(api_key="test-key", base_url=api.base_url, max_retries=0) as sdk:
        message = sdk.messages.create(model=MODEL, max_tokens=8, messages=HELLO)
    block = message.content[0]
    assert block.type == "text" and block.text == "hi from a thread"


def test_lanes_give_two_models_a_script_each() -> None:
    """The agent and a simulated customer share one fake; each request is answered from its own lane's script,
    whatever order the two arrive in."""
    from testkit.fakes.anthropic_api import system_says

    with FakeMessagesAPI(lanes={"customer": system_says("playing a customer")}) as api:
        api.add(say("agent answer"))
        api.add(say("customer answer"), lane="customer")
        client = anthropic.Anthropic(api_key="k", base_url=api.base_url, max_retries=0)
        ask = {"model": "claude-haiku-4-5", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
        customer = client.messages.create(
            **ask, system=[{"type": "text", "text": "You are playing a customer of a shop."}]
        )
        agent = client.messages.create(**ask, system="You are the support agent.")
        api.assert_done()
    assert (customer.content[0].text, agent.content[0].text) == ("customer answer", "agent answer")  # type: ignore[union-attr]


# --- the answers a thinking model, a server tool and the API's limits produce ----------------------------------


@pytest.mark.parametrize("streamed", [False, True], ids=["create", "stream"])
async def test_a_thinking_model_answers_with_sealed_thinking_and_redacted_thinking(
    api: FakeMessagesAPI, streamed: bool
) -> None:
    api.add(thought(ToolUse("lookup", {"id": 1}, id="toolu_t"), redacted=True))
    async with client(api) as sdk:
        ask = {"model": "claude-sonnet-4-6", "max_tokens": 4096, "messages": HELLO, "thinking": {"type": "adaptive"}}
        if streamed:
            async with sdk.messages.stream(**ask) as events:  # type: ignore[arg-type]
                message = await events.get_final_message()
        else:
            message = await sdk.messages.create(**ask)  # type: ignore[arg-type]
    thinking, redacted, use = message.content
    assert thinking.type == "thinking" and thinking.thinking and thinking.signature  # summarized on Sonnet 4.6
    assert redacted.type == "redacted_thinking" and redacted.data
    assert use.type == "tool_use" and message.stop_reason == "tool_use"


@pytest.mark.parametrize("streamed", [False, True], ids=["create", "stream"])
async def test_stop_reasons_with_their_blocks_reach_the_sdk(api: FakeMessagesAPI, streamed: bool) -> None:
    api.add(
        paused(),
        refusal("I can't"),
        cut_call("Refunding", "issue_refund", '{"order_id": "#W1", "amo'),
        window_full("Your orders are"),
    )
    seen = []
    for _ in range(4):
        if streamed:
            message = (await stream(api))[2]
        else:
            message = await create(api)
        seen.append(message)
    pause, refused, cut, full = seen
    assert pause.stop_reason == "pause_turn" and [b.type for b in pause.content] == ["text", "server_tool_use"]
    assert pause.content[1].id.startswith("srvtoolu_")
    assert refused.stop_reason == "refusal" and refused.stop_details.category == "general_harms"
    assert cut.stop_reason == "max_tokens" and cut.content[1].input == {"order_id": "#W1"}
    assert full.stop_reason == "model_context_window_exceeded" and full.content[0].text == "Your orders are"


async def test_an_api_error_mid_stream_and_a_long_retry_after_reach_the_sdk(api: FakeMessagesAPI) -> None:
    api.add(say("one two three", cut=StreamCut(3, "error", error_type="api_error", error_message="Internal error")))
    with pytest.raises(anthropic.APIStatusError) as raised:
        await stream(api)
    assert raised.value.body == {"type": "error", "error": {"type": "api_error", "message": "Internal error"}}
    api.add(rate_limited(retry_after=90), prompt_too_long(), too_large())
    with pytest.raises(anthropic.RateLimitError) as limited:
        await create(api, max_retries=0)
    assert limited.value.response.headers["retry-after"] == "90"
    with pytest.raises(anthropic.BadRequestError, match="prompt is too long: 210000 tokens > 200000 maximum"):
        await create(api)
    with pytest.raises(anthropic.ContentTooLargeError):
        await create(api)
