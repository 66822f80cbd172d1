"""A tool input nested thousands of levels deep is the model's protocol error: the run ends `failed` with the
polite reply and the error named, not as an unexpected failure with a RecursionError traceback; the conversation
goes on."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from agent.models.base import ModelRequest, ModelResponse, TextSink
from agent.models.scripted import ScriptedModel, call, say
from agent.turn.replies import MODEL_FAILED
from agent.turn.tool_calls import MAX_INPUT_DEPTH, nesting_depth
from testkit.service import running_service

JAMES = "james_li_5688"


def nested(depth: int, leaf: Any = "x") -> Any:
    """`{"a": {"a": ... leaf}}`, built without recursion."""
    value = leaf
    for level in range(depth):
        value = {"a": value} if level % 2 else [value]
    return value


def test_depth_is_measured_without_recursion_and_stops_early() -> None:
    assert nesting_depth({"order_id": "#W1", "item_ids": ["1", "2"]}, MAX_INPUT_DEPTH) == 2
    assert nesting_depth("flat", MAX_INPUT_DEPTH) == 0
    assert nesting_depth(nested(1_000_000), MAX_INPUT_DEPTH) == MAX_INPUT_DEPTH + 1


@pytest.mark.parametrize("depth", [MAX_INPUT_DEPTH + 1, 5_000, 200_000])
async def test_a_deeply_nested_tool_input_is_the_models_protocol_error(
    sqlite_url: str, depth: int, caplog: pytest.LogCaptureFixture
) -> None:
    model = ScriptedModel([call("get_order_details", {"order_id": nested(depth)}), say("Your order is on its way.")])
    async with running_service(sqlite_url, model) as service:
        conversation = await service.new_conversation(JAMES)
        with caplog.at_level(logging.ERROR):
            answer = await service.say(JAMES, conversation, "Where is my order?")
        assert answer.status_code == 200, answer.text
        run = answer.json()["run"]
        assert (run["status"], run["reply"]) == ("failed", MODEL_FAILED)
        stored = await service.services.runs.get_run(run["id"])
        assert stored.error is not None and stored.error.startswith("ModelProtocolError")
        assert "nests deeper" in stored.error
        assert not [r for r in caplog.records if "unexpectedly" in r.getMessage() or r.exc_info]
        again = await service.say(JAMES, conversation, "Hello?")
        assert again.json()["run"]["status"] == "completed"


class Overflowing:
    """A model whose answer cannot even be decoded: its client hits the recursion limit, as `json.loads` does on
    a body nested a few thousand levels deep."""

    provider = "scripted"
    name = "overflowing"

    async def complete(self, request: ModelRequest, *, on_text: TextSink | None = None) -> ModelResponse:
        import json

        json.loads("[" * 100_000 + "]" * 100_000)
        raise AssertionError("unreachable")


async def test_an_answer_too_deep_to_decode_is_the_models_protocol_error(sqlite_url: str) -> None:
    async with running_service(sqlite_url, Overflowing()) as service:  # type: ignore[arg-type]
        conversation = await service.new_conversation(JAMES)
        run = (await service.say(JAMES, conversation, "Where is my order?")).json()["run"]
        assert (run["status"], run["reply"]) == ("failed", MODEL_FAILED)
        stored = await service.services.runs.get_run(run["id"])
        assert stored.error is not None and stored.error.startswith("ModelProtocolError")
