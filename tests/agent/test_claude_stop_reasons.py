"""Every way Claude can stop, and every fault on the provider's side the issue names, ends with the customer
answered and a history the Messages API still accepts on the next turn.

Through the chat API, the real SDK and the strict fake Messages API (which refuses what the real API refuses);
each test ends by asking one more question and checking Claude (not the offline fallback) answers it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlmodel import col, select

from agent.conversations.tables import Run
from agent.models.fallback import LIMITED_MODE
from agent.turn import model_notices, replies
from testkit.fakes.anthropic_api import (
    FakeMessagesAPI,
    Reply,
    Text,
    ToolUse,
    call,
    cut_call,
    paused,
    rate_limited,
    refusal,
    say,
    window_full,
)
from testkit.service import ServiceClient, anthropic_settings, running_service

JAMES = "james_li_5688"
THINKS = "claude-sonnet-5"
PLAIN = "claude-sonnet-4-6"
PREFILLS = "claude-haiku-4-5"
MODELS = pytest.mark.parametrize("model", [THINKS, PLAIN])
WAYS = pytest.mark.parametrize("streaming", [True, False], ids=["sse", "json"])


@pytest.fixture
def api() -> Iterator[FakeMessagesAPI]:
    with FakeMessagesAPI() as fake:
        yield fake


def on(api: FakeMessagesAPI, model: str, **more: Any) -> dict[str, Any]:
    return {**anthropic_settings(api.base_url), "SUPPORT_MODEL": f"anthropic:{model}", **more}


async def ask(service: ServiceClient, conversation: str, text: str, *, streaming: bool = False) -> dict[str, Any]:
    headers = {"Accept": "text/event-stream"} if streaming else {}
    answer = await service.say(JAMES, conversation, text, **headers)
    assert answer.status_code == 200, answer.text
    if streaming:
        from testkit.http_server import parse_sse

        run: dict[str, Any] = parse_sse(answer.text.splitlines())[-1][1]["run"]
        return run
    ran: dict[str, Any] = answer.json()["run"]
    return ran


async def still_answered_by_claude(service: ServiceClient, api: FakeMessagesAPI, conversation: str) -> None:
    """The next turn goes to Claude with the history as it now stands, and Claude answers it."""
    api.add(say("Anything else I can help with?"))
    run = await ask(service, conversation, "one more thing")
    assert (run["reply"], run["model"]["provider"]) == ("Anything else I can help with?", "anthropic"), run
    api.assert_done()


def last_request(api: FakeMessagesAPI) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = api.requests[-1].body["messages"]
    return messages


@MODELS
@WAYS
async def test_a_pause_inside_a_server_tool_goes_back_last_and_the_turn_goes_on(
    sqlite_url: str, api: FakeMessagesAPI, model: str, streaming: bool
) -> None:
    api.add(paused(), say("Items can be returned within 30 days."))
    async with running_service(sqlite_url, **on(api, model)) as service:
        conversation = await service.new_conversation(JAMES)
        run = await ask(service, conversation, "What is the returns policy?", streaming=streaming)
        assert run["reply"] == "Items can be returned within 30 days."
        continued = last_request(api)[-1]
        assert continued["role"] == "assistant" and continued["content"][-1]["type"] == "server_tool_use"
        await still_answered_by_claude(service, api, conversation)
    # the paused answer, server tool's call included, stays in the history unchanged
    kept = [m for m in last_request(api) if m["role"] == "assistant" and m["content"][-1]["type"] == "server_tool_use"]
    assert len(kept) == 1


@pytest.mark.parametrize(("model", "noticed"), [(PLAIN, True), (PREFILLS, False)])
async def test_a_pause_after_words_is_continued_as_the_model_allows(
    sqlite_url: str, api: FakeMessagesAPI, model: str, noticed: bool
) -> None:
    """A model taking prefill continues from its own words sent back last; one without it (the 4.6 models and
    later) is refused that, so the service asks it to go on instead."""
    api.add(Reply(content=(Text("Let me check that."),), stop_reason="pause_turn"), say("It shipped yesterday."))
    async with running_service(sqlite_url, **on(api, model)) as service:
        conversation = await service.new_conversation(JAMES)
        run = await ask(service, conversation, "Where is my order #W2611340?")
        assert run["reply"] == "It shipped yesterday."
        tail = last_request(api)[-2:]
        if noticed:
            assert tail[0]["content"] == [{"type": "text", "text": "Let me check that."}]
            assert tail[1]["content"][0]["text"] == model_notices.GO_ON_AFTER_PAUSE
        else:
            assert tail[1] == {"role": "assistant", "content": [{"type": "text", "text": "Let me check that."}]}
        await still_answered_by_claude(service, api, conversation)


async def test_an_empty_pause_is_asked_again_and_never_stored(sqlite_url: str, api: FakeMessagesAPI) -> None:
    api.add(Reply(content=(), stop_reason="pause_turn", thinking=False), say("Your order is on its way."))
    async with running_service(sqlite_url, **on(api, PLAIN)) as service:
        conversation = await service.new_conversation(JAMES)
        run = await ask(service, conversation, "Where is my order #W2611340?")
        assert run["reply"] == "Your order is on its way."
        assert api.requests[0].raw_body == api.requests[1].raw_body
        await still_answered_by_claude(service, api, conversation)
    assert all(m["content"] for m in last_request(api))


@MODELS
@WAYS
async def test_a_refusal_tells_the_customer_and_the_refused_turn_is_not_sent_again(
    sqlite_url: str, api: FakeMessagesAPI, model: str, streaming: bool
) -> None:
    """handle-streaming-refusals: "you must reset the conversation context before continuing ... remove or
    rephrase the turn that triggered the refusal"."""
    api.add(call("get_customer_profile"), refusal("I will not"))
    async with running_service(sqlite_url, **on(api, model)) as service:
        conversation = await service.new_conversation(JAMES)
        run = await ask(service, conversation, "something the model declines", streaming=streaming)
        assert (run["status"], run["reply"]) == ("completed", replies.REFUSED)
        await still_answered_by_claude(service, api, conversation)
    history = json.dumps(last_request(api))
    assert "something the model declines" not in history and "I will not" not in history
    assert model_notices.withheld_after_refusal(["get_customer_profile"]) in history


@MODELS
@WAYS
async def test_an_answer_cut_inside_a_tool_call_keeps_its_words_and_runs_nothing(
    sqlite_url: str, api: FakeMessagesAPI, model: str, streaming: bool
) -> None:
    api.add(cut_call("I'll refund part of order #W2611340 for you, and", "issue_refund", '{"order_id": "#W26'))
    async with running_service(sqlite_url, **on(api, model)) as service:
        conversation = await service.new_conversation(JAMES)
        run = await ask(service, conversation, "Refund me for #W2611340", streaming=streaming)
        assert run["reply"] == f"I'll refund part of order #W2611340 for you, and\n\n{replies.CUT_SHORT}"
        async with service.services.database.session(readonly=True) as session:
            stored = (await session.exec(select(Run))).one()
        assert "tool_use" not in json.dumps(stored.transcript)
        await still_answered_by_claude(service, api, conversation)


@MODELS
@WAYS
async def test_a_full_context_window_keeps_the_partial_answer_as_a_cut_one(
    sqlite_url: str, api: FakeMessagesAPI, model: str, streaming: bool
) -> None:
    api.add(window_full("Your last three orders were #W2611340, #W3632959 and"))
    async with running_service(sqlite_url, **on(api, model)) as service:
        conversation = await service.new_conversation(JAMES)
        run = await ask(service, conversation, "List my orders", streaming=streaming)
        assert run["status"] == "completed"
        assert run["reply"] == f"Your last three orders were #W2611340, #W3632959 and\n\n{replies.CUT_SHORT}"
        await still_answered_by_claude(service, api, conversation)


@MODELS
async def test_an_empty_answer_to_tool_results_gets_one_continuation(
    sqlite_url: str, api: FakeMessagesAPI, model: str
) -> None:
    api.add(call("get_order_details", {"order_id": "#W2611340"}), say(""), say("It is processed."))
    async with running_service(sqlite_url, **on(api, model)) as service:
        conversation = await service.new_conversation(JAMES)
        run = await ask(service, conversation, "Where is my order #W2611340?")
        assert (run["status"], run["reply"]) == ("completed", "It is processed.")
        asked_again = last_request(api)[-1]["content"]
        assert [b["type"] for b in asked_again] == ["tool_result", "text"]  # the results first, then the notice
        assert asked_again[1]["text"] == model_notices.ANSWER_THE_RESULTS
        await still_answered_by_claude(service, api, conversation)


async def test_a_second_empty_answer_fails_the_run_politely(sqlite_url: str, api: FakeMessagesAPI) -> None:
    api.add(call("get_order_details", {"order_id": "#W2611340"}), say(""), say(""))
    async with running_service(sqlite_url, **on(api, PLAIN)) as service:
        conversation = await service.new_conversation(JAMES)
        run = await ask(service, conversation, "Where is my order #W2611340?")
        assert (run["status"], run["reply"]) == ("failed", replies.MODEL_FAILED)
        await still_answered_by_claude(service, api, conversation)


@MODELS
@WAYS
async def test_a_retry_after_longer_than_the_run_can_wait_goes_to_the_next_model_at_once(
    sqlite_url: str, api: FakeMessagesAPI, model: str, streaming: bool
) -> None:
    # The offline model looks the order up, then answers: two calls, each offered to Claude first.
    api.add(rate_limited(retry_after=90), rate_limited(retry_after=90))
    settings = on(api, model, SUPPORT_MODEL_MAX_RETRIES=2, SUPPORT_RUN_TIMEOUT_S=60)
    async with running_service(sqlite_url, **settings) as service:
        conversation = await service.new_conversation(JAMES)
        started = time.monotonic()
        run = await ask(service, conversation, "Where is my order #W2611340?", streaming=streaming)
        took = time.monotonic() - started
        assert run["status"] == "completed" and run["reply"].startswith(LIMITED_MODE)
        assert run["model"]["provider"] == "offline"
        assert "asked to be retried in 90 s" in run["fallback_reason"]
        assert took < 10  # not the 90 s the SDK would have waited, nor the run's 60 s
        assert [r.attempt for r in api.requests] == [0, 0]  # no retry was sent
        await still_answered_by_claude(service, api, conversation)


async def test_a_short_retry_after_is_waited_for_by_the_sdk(sqlite_url: str, api: FakeMessagesAPI) -> None:
    api.add(rate_limited(retry_after=0.2), say("Here you are."))
    async with running_service(sqlite_url, **on(api, PLAIN, SUPPORT_MODEL_MAX_RETRIES=2)) as service:
        run = await ask(service, await service.new_conversation(JAMES), "hello")
    assert (run["reply"], run["fallback_reason"]) == ("Here you are.", None)
    assert [r.attempt for r in api.requests] == [0, 1]


@MODELS
@WAYS
async def test_a_prompt_too_long_shortens_the_history_and_asks_once_more(
    sqlite_url: str, model: str, streaming: bool
) -> None:
    with FakeMessagesAPI(expect_refusals=True) as api:
        async with running_service(sqlite_url, **on(api, model), SUPPORT_CHAT_PER_MINUTE=100) as service:
            conversation = await service.new_conversation(JAMES)
            for number in range(6):
                api.add(say(f"Noted, part {number}."))
                await ask(service, conversation, f"part {number} of my story: " + "words " * 400)
            # The model's window is now smaller than the conversation: the next prompt is refused as too long.
            sizes = [len(r.raw_body) // 4 for r in api.requests]
            api.context_windows[model] = sizes[-1]
            api.add(say("Thanks for your patience."))
            run = await ask(service, conversation, "so, what now? " + "words " * 200, streaming=streaming)
            assert (run["reply"], run["model"]["provider"]) == ("Thanks for your patience.", "anthropic")
            refused, retried = api.requests[-2:]
            assert refused.refusal is not None and refused.refusal.message.startswith("prompt is too long")
            assert retried.refusal is None and len(retried.raw_body) < len(refused.raw_body)
            assert retried.body["messages"][0]["content"][0]["text"].startswith("[Earlier conversation omitted")
            health = (await service.http.get("/healthz")).json()
            assert health["model_health"]["problems"][0]["reason"] == "rejected:prompt_too_long"
            api.add(say("Anything else I can help with?"))
            following = await ask(service, conversation, "one more thing")
            assert following["model"]["provider"] == "anthropic"
        # One refusal: the next turn's history was kept within what this model took.
        assert len(api.refusals) == 1


async def test_a_stored_conversation_poisoned_before_the_fix_is_answered_again(
    sqlite_url: str, api: FakeMessagesAPI
) -> None:
    """A transcript stored with a whitespace-only text block and an empty paused answer (what the service used to
    store) no longer makes every later request of the conversation fail."""
    api.add(call("get_order_details", {"order_id": "#W2611340"}), say("It is processed."))
    async with running_service(sqlite_url, **on(api, PLAIN)) as service:
        conversation = await service.new_conversation(JAMES)
        await ask(service, conversation, "Where is my order #W2611340?")
        async with service.services.database.session() as session:
            run = (await session.exec(select(Run).order_by(col(Run.started_at)))).one()
            poisoned = list(run.transcript)
            poisoned[1] = {"role": "assistant", "content": [{"type": "text", "text": "\n\n"}, *poisoned[1]["content"]]}
            poisoned.insert(3, {"role": "assistant", "content": []})
            run.transcript = poisoned
            session.add(run)
            await session.commit()
        await still_answered_by_claude(service, api, conversation)


async def test_blank_text_from_any_model_is_kept_out_of_the_history(sqlite_url: str, api: FakeMessagesAPI) -> None:
    api.add(Reply(content=(Text("  "), ToolUse("get_customer_profile", {})), stop_reason="tool_use"))
    api.add(Reply(content=(Text("You have three orders."), Text("\n")), stop_reason="end_turn"))
    async with running_service(sqlite_url, **on(api, THINKS)) as service:
        conversation = await service.new_conversation(JAMES)
        assert (await ask(service, conversation, "my orders?"))["reply"] == "You have three orders."
        await still_answered_by_claude(service, api, conversation)


async def test_a_request_over_the_size_limit_is_shortened_like_a_prompt_too_long(sqlite_url: str) -> None:
    """api/errors: 413 `request_too_large` (32 MB on the Messages API; a few kilobytes here): the same remedy."""
    with FakeMessagesAPI(expect_refusals=True) as api:
        async with running_service(sqlite_url, **on(api, PLAIN), SUPPORT_CHAT_PER_MINUTE=100) as service:
            conversation = await service.new_conversation(JAMES)
            for number in range(4):
                api.add(say(f"Noted, part {number}."))
                await ask(service, conversation, f"part {number}: " + "words " * 400)
            api.max_request_bytes = len(api.requests[-1].raw_body)
            api.add(say("Thanks for your patience."))
            run = await ask(service, conversation, "and so? " + "words " * 200)
        [refusal_] = api.refusals
    assert (refusal_.status, refusal_.error_type) == (413, "request_too_large")
    assert (run["reply"], run["model"]["provider"]) == ("Thanks for your patience.", "anthropic")
    assert len(api.requests[-1].raw_body) <= api.max_request_bytes
