"""The fallback chain, its circuit breakers, and the OpenAI-compatible link (against an endpoint speaking the
chat-completions protocol over HTTP)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agent.errors import ModelUnavailable
from agent.models.base import Message, ModelRequest
from agent.models.circuit import CircuitBreaker
from agent.models.fallback import LIMITED_MODE, FallbackChain
from agent.models.offline import OfflineModel
from agent.models.openai_compatible import OpenAICompatibleModel
from agent.models.scripted import ScriptedModel, Step, say
from agent.telemetry.recorder import Telemetry
from testkit.service import running_service

JAMES = "james_li_5688"
REQUEST = ModelRequest(system="be brief", tools=[], messages=[Message.user_text("hello")])


def scripted(provider: str, *steps: Step) -> ScriptedModel:
    model = ScriptedModel(steps)
    model.provider = provider  # type: ignore[misc]
    return model


def down() -> Step:
    return Step(error=ModelUnavailable("HTTP 529 overloaded"))


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_the_next_link_answers_when_the_first_fails() -> None:
    primary = scripted("primary", down())
    secondary = scripted("secondary", Step(response=say("from the secondary")))
    answer = await FallbackChain([primary, secondary]).complete(REQUEST)
    assert (answer.provider, answer.text) == ("secondary", "from the secondary")
    primary.assert_done()
    secondary.assert_done()


async def test_the_answering_links_chat_span_carries_its_position_and_usage() -> None:
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    chain = FallbackChain(
        [scripted("primary", down()), scripted("secondary", Step(response=say("hi")))],
        telemetry=Telemetry(provider, capture_content=False),
    )
    await chain.complete(REQUEST)
    answered = [s for s in spans.get_finished_spans() if (s.attributes or {}).get("support.model.fallback_position")]
    assert len(answered) == 1
    assert answered[0].attributes and answered[0].attributes["gen_ai.usage.output_tokens"] == 10


async def test_an_open_circuit_skips_the_failing_link_and_probes_it_after_the_cool_down() -> None:
    clock = FakeClock()
    primary = scripted("primary", down(), down(), down())
    secondary = scripted("secondary", *(Step(response=say(f"answer {i}")) for i in range(5)))
    breakers = [CircuitBreaker(failure_threshold=3, cool_down_s=30, clock=clock), CircuitBreaker(clock=clock)]
    chain = FallbackChain([primary, secondary], breakers=breakers)
    for _ in range(4):
        await chain.complete(REQUEST)
    assert len(primary.requests) == 3 and breakers[0].state == "open"  # the fourth call skipped it

    clock.now = 31
    assert breakers[0].state == "half_open"
    primary.add(Step(response=say("recovered")))
    answer = await chain.complete(REQUEST)
    assert (answer.provider, answer.text) == ("primary", "recovered")
    assert breakers[0].state == "closed"


async def test_a_failed_probe_opens_the_circuit_again() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=2, cool_down_s=10, clock=clock)
    breaker.record_failure()
    breaker.record_failure()
    clock.now = 10
    assert breaker.allow() and not breaker.allow()  # one probe at a time
    breaker.record_failure()
    assert breaker.state == "open"


async def test_when_every_link_fails_the_chain_says_which_and_why() -> None:
    chain = FallbackChain([scripted("a", down()), scripted("b", down())])
    with pytest.raises(
        ModelUnavailable, match=r"a:scripted-1 unavailable: HTTP 529.*b:scripted-1 unavailable: HTTP 529"
    ):
        await chain.complete(REQUEST)


async def test_the_offline_model_as_last_resort_offers_a_person(sqlite_url: str) -> None:
    chain = FallbackChain([scripted("primary", down(), down()), OfflineModel()])
    async with running_service(sqlite_url, chain) as service:
        conversation = await service.new_conversation(JAMES)
        answer = await service.say(JAMES, conversation, "Where is my order #W2611340?")
    run = answer.json()["run"]
    assert run["status"] == "completed"
    assert run["reply"].startswith(LIMITED_MODE) and "357962501027" in run["reply"]
    assert run["model"] == {"provider": "offline", "name": "offline-intent-1"}
    assert run["fallback_reason"] == "primary:scripted-1 unavailable: HTTP 529 overloaded"


def chat_completion(content: str | None = None, tool_calls: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = tool_calls
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "llama3.1",
        "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls" if tool_calls else "stop"}],
        "usage": {"prompt_tokens": 40, "completion_tokens": 7, "total_tokens": 47},
    }


def endpoint(*answers: httpx.Response) -> tuple[OpenAICompatibleModel, list[dict[str, Any]]]:
    queue = list(answers)
    seen: list[dict[str, Any]] = []

    def handle(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v1/chat/completions"
        seen.append(json.loads(request.content))
        return queue.pop(0)

    client = httpx.AsyncClient(transport=httpx.MockTransport(handle), base_url="http://llm.test/v1/")
    return OpenAICompatibleModel("llama3.1", base_url="http://llm.test/v1", client=client, backoff_s=0), seen


async def test_openai_compatible_retries_429_honouring_retry_after_then_answers() -> None:
    model, seen = endpoint(
        httpx.Response(429, headers={"retry-after": "0"}, json={"error": {"message": "slow down"}}),
        httpx.Response(200, json=chat_completion("hi there")),
    )
    answer = await model.complete(REQUEST)
    assert (answer.text, answer.stop_reason, answer.usage.input_tokens) == ("hi there", "end_turn", 40)
    assert model.attempts == 2 and len(seen) == 2
    assert seen[0]["messages"][0] == {"role": "system", "content": "be brief"}


async def test_openai_compatible_gives_up_after_its_attempts_without_stacking_retries() -> None:
    model, seen = endpoint(*(httpx.Response(503, json={}) for _ in range(3)))
    chain = FallbackChain([model, scripted("secondary", Step(response=say("covered")))])
    answer = await chain.complete(REQUEST)
    assert answer.text == "covered"
    assert len(seen) == 3  # its own three attempts; the chain adds none


async def test_openai_compatible_translates_tool_calls_both_ways() -> None:
    model, seen = endpoint(
        httpx.Response(
            200,
            json=chat_completion(
                tool_calls=[
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_order_details", "arguments": '{"order_id": "#W2611340"}'},
                    },
                    {
                        "id": "call_2",
                        "type": "function",
                        "function": {"name": "get_product_details", "arguments": "{not json"},
                    },
                ]
            ),
        )
    )
    request = ModelRequest(
        system="s",
        tools=[{"name": "get_order_details", "description": "d", "input_schema": {"type": "object"}}],
        messages=[Message.user_text("where is it")],
    )
    answer = await model.complete(request)
    assert answer.stop_reason == "tool_use"
    assert [(u.id, u.name, u.input) for u in answer.tool_uses] == [
        ("call_1", "get_order_details", {"order_id": "#W2611340"}),
        ("call_2", "get_product_details", "{not json"),  # left for the gate to reject as invalid
    ]
    assert seen[0]["tools"][0]["function"]["name"] == "get_order_details"
