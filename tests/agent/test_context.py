"""Long conversations: the newest turns are kept whole, older ones dropped with a note, big results cut."""

from __future__ import annotations

import itertools
import json

from agent.models.base import Message, ModelRequest, TextBlock, ThinkingBlock, ToolResultBlock, ToolUseBlock
from agent.models.offline import OfflineModel
from agent.models.scripted import ScriptedModel, Step, call, say
from agent.turn.window import OMITTED_PREFIX, clip_result, estimate_tokens, fit_history, repaired, stable_cut, turns_of
from testkit.service import running_service

JAMES = "james_li_5688"


def turn(i: int) -> list[Message]:
    return [
        Message.user_text(f"question {i} about #W{1000000 + i}"),
        Message(role="assistant", content=(ToolUseBlock(f"t{i}", "get_order_details", {"order_id": "x"}),)),
        Message(role="user", content=(ToolResultBlock(f"t{i}", "{}"),)),
        Message(role="assistant", content=(TextBlock(f"answer {i}"),)),
    ]


def test_whole_newest_turns_are_kept_and_the_dropped_ones_noted() -> None:
    history = [m for i in range(50) for m in turn(i)]
    fitted = fit_history(history, budget_tokens=300)
    assert len(fitted) < len(history) and len(fitted) % 4 == 0  # whole turns only
    assert fitted[-4:] == history[-4:]
    note = fitted[0].content[0]
    assert isinstance(note, TextBlock) and note.text.startswith(OMITTED_PREFIX) and "#W1000000" in note.text
    assert fitted[0].text.endswith(history[len(history) - len(fitted)].text)  # the customer's words follow the note
    roles = [m.role for m in fitted]
    assert all(a != b for a, b in itertools.pairwise(roles))  # still alternating


def test_a_history_within_budget_is_untouched() -> None:
    history = turn(1)
    assert fit_history(history, budget_tokens=10_000) is history


def test_a_long_result_is_cut_with_a_marker() -> None:
    assert clip_result("x" * 10, 20) == "x" * 10
    assert clip_result("x" * 30, 20) == "x" * 20 + "… [truncated: 10 more characters not shown]"


async def test_a_200_message_conversation_still_works(sqlite_url: str) -> None:
    shown: list[ModelRequest] = []
    model = ScriptedModel([say(f"answer {i}") for i in range(100)])
    model.add(Step(response=say("still here"), check=shown.append))
    async with running_service(sqlite_url, model, SUPPORT_CHAT_PER_MINUTE=1000, SUPPORT_CONTEXT_TOKENS=1000) as service:
        conversation = await service.new_conversation(JAMES)
        for i in range(100):
            assert (await service.say(JAMES, conversation, f"message {i}")).status_code == 200
        last = await service.say(JAMES, conversation, "are you still there?")
        assert last.json()["run"]["reply"] == "still here"
        read = await service.http.get(f"/v1/conversations/{conversation}", headers=last.request.headers)
        assert len(read.json()["messages"]) == 202  # nothing lost from the record
    [request] = shown
    assert request.messages[-1].text == "are you still there?"
    assert request.messages[0].content[0].text.startswith(OMITTED_PREFIX)  # type: ignore[union-attr]
    assert 10 < len(request.messages) < 100
    assert sum(len(json.dumps(m.to_json())) for m in request.messages) // 4 < 1100


async def test_a_large_tool_result_reaches_the_model_cut(sqlite_url: str) -> None:
    shown: list[ModelRequest] = []
    model = ScriptedModel([call("list_product_types", {}), Step(response=say("ok"), check=shown.append)])
    async with running_service(sqlite_url, model, SUPPORT_MAX_TOOL_RESULT_CHARS=200) as service:
        await service.say(JAMES, await service.new_conversation(JAMES), "what do you sell?")
    [result] = shown[0].messages[-1].tool_results
    assert len(result.content) < 300 and "[truncated:" in result.content


async def test_the_offline_model_ignores_the_omission_note(sqlite_url: str) -> None:
    async with running_service(
        sqlite_url, OfflineModel(), SUPPORT_CHAT_PER_MINUTE=1000, SUPPORT_CONTEXT_TOKENS=500
    ) as service:
        conversation = await service.new_conversation(JAMES)
        for _ in range(5):
            await service.say(JAMES, conversation, "Where is my order #W2611340?")
        answer = (await service.say(JAMES, conversation, "hello")).json()["run"]["reply"]
    assert "offline mode" in answer  # a greeting, not an answer about the order the note mentions


def thoughtful_turn(i: int) -> list[Message]:
    """A turn of a thinking model: its answers open with thinking blocks."""
    thinking = ThinkingBlock("", f"sig{i}")
    return [
        Message.user_text(f"question {i} about #W{1000000 + i} " + "and more " * 20),
        Message(role="assistant", content=(thinking, ToolUseBlock(f"t{i}", "get_order_details", {"order_id": "x"}))),
        Message(role="user", content=(ToolResultBlock(f"t{i}", "{}"),)),
        Message(role="assistant", content=(ThinkingBlock("", f"sig{i}b"), TextBlock(f"answer {i}"))),
    ]


def test_the_cut_moves_in_steps_and_between_moves_each_request_extends_the_last() -> None:
    """Once trimming starts the note does not change every turn: it changes only when the cut moves, and between
    two moves the history shown grows by appending only, so the previous call's cache breakpoint still hits."""
    turns = [thoughtful_turn(i) for i in range(40)]
    shown = [fit_history([m for t in turns[:n] for m in t], budget_tokens=2000) for n in range(1, 41)]
    notes = [m[0].content[0].text if isinstance(m[0].content[0], TextBlock) else "" for m in shown]
    moves = [n for n in range(1, 40) if notes[n] != notes[n - 1]]
    assert 2 <= len(moves) <= 12, moves  # in steps, not at every turn after the first cut
    for n in range(1, 40):
        if n not in moves:
            assert shown[n][: len(shown[n - 1])] == shown[n - 1]  # append-only between moves


def test_turns_kept_across_a_move_lose_their_thinking_and_later_ones_keep_it() -> None:
    """prefix-checks: a thinking block is bound to what came before it; when the cut moves under kept turns their
    thinking is dropped, and the same turns are stripped the same way on every later call."""
    history = [m for i in range(30) for m in thoughtful_turn(i)]
    fitted = fit_history(history, budget_tokens=2000)
    _, moved_at = stable_cut([sum(estimate_tokens(m) for m in t) for t in turns_of(history)], 2000)
    kept_turns = turns_of(fitted)
    first_kept = 30 - len(kept_turns)
    for offset, kept in enumerate(kept_turns):
        thought = any(isinstance(b, ThinkingBlock) for m in kept for b in m.content)
        assert thought == (first_kept + offset > moved_at), (first_kept + offset, moved_at)
    grown = fit_history([*history, *thoughtful_turn(30)], budget_tokens=2000)
    assert grown[: len(fitted)] == fitted  # the next turn sees the same, stripped the same


def test_a_stored_history_with_blank_text_or_empty_messages_is_repaired() -> None:
    sound = turn(1)
    assert repaired(sound) is sound
    poisoned = [
        Message.user_text("hi"),
        Message(role="assistant", content=(TextBlock("\n\n"), ToolUseBlock("t1", "get_customer_profile", {}))),
        Message(role="user", content=(ToolResultBlock("t1", "{}"),)),
        Message(role="assistant", content=()),
        Message(role="assistant", content=(TextBlock("Here you are."), TextBlock(" "))),
    ]
    fixed = repaired(poisoned)
    assert [len(m.content) for m in fixed] == [1, 1, 1, 1]
    assert all(b.text.strip() for m in fixed for b in m.content if isinstance(b, TextBlock))
