"""Faults are blamed on whoever caused them, and a malformed answer cannot hurt the service.

Through the real SDK and the fake Messages API: a customer's text the SDK could not encode, or a tool input
holding NaN, must not count against the provider's circuit breaker (which would move every other customer to
the offline fallback) and must not leave that conversation stuck. And whatever shape of tool_use block a model
sends (null, numeric or repeated ids, names that are lists, inputs that are not objects), the turn ends in a
defined status, never a 500, and the conversation goes on.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import col, select

from agent.conversations.tables import Approval, Step
from agent.models.base import ToolResultBlock, ToolUseBlock
from agent.models.scripted import ScriptedModel, calls, say
from testkit.fakes import anthropic_api as fake
from testkit.service import ServiceClient, bearer, running_service
from tools.store.tables import LedgerEntry

JAMES = "james_li_5688"
RAJ = "raj_sanchez_2970"
ANTHROPIC = {"SUPPORT_MODEL": "anthropic:claude-sonnet-4-6", "ANTHROPIC_API_KEY": "test-key"}
DEFINED = {"completed", "awaiting_approval", "handed_off", "budget_exhausted", "failed"}


@pytest.fixture
def model_api() -> Iterator[fake.FakeMessagesAPI]:
    with fake.FakeMessagesAPI() as api:
        yield api


def nan_refund(_: dict[str, Any]) -> fake.Answer:
    """A tool input with NaN in it: valid for Python's JSON reader, invalid JSON for everyone else."""
    raw = ('{"order_id": "#W2611340", "amount": ', "NaN", ', "reason": "late"}')
    return fake.Reply(content=(fake.ToolUse("issue_refund", raw_json=raw),), stop_reason="tool_use")


async def answered_by(service: ServiceClient, customer: str, conversation: str, text: str) -> str:
    answer = await service.say(customer, conversation, text)
    assert answer.status_code == 200, answer.text
    run = answer.json()["run"]
    assert run["status"] in DEFINED
    return str(run["model"]["provider"])


def poisoning_model(body: dict[str, Any]) -> fake.Answer:
    """Proposes a refund with NaN in it when asked for one, explains after the refusal, else greets."""
    content = body["messages"][-1]["content"]
    blocks = content if isinstance(content, list) else [{"type": "text", "text": content}]
    if any(b.get("type") == "tool_result" for b in blocks):
        return fake.say("That amount did not look right.")
    if "refund" in " ".join(b.get("text", "") for b in blocks):
        return nan_refund(body)
    return fake.say("Hello!")


async def test_poisoned_input_from_one_customer_leaves_the_others_on_the_primary_model(
    sqlite_url: str, model_api: fake.FakeMessagesAPI
) -> None:
    model_api.add(*[poisoning_model] * 100)
    async with running_service(sqlite_url, ANTHROPIC_BASE_URL=model_api.base_url, **ANTHROPIC) as service:
        poisoned = await service.new_conversation(JAMES)
        for _ in range(4):
            # A lone surrogate (sent as the JSON escape a browser would send): refused at the door or repaired,
            # never passed to the SDK as is.
            answer = await service.http.post(
                f"/v1/conversations/{poisoned}/messages",
                content=json.dumps({"content": "hello \ud800"}),
                headers={**bearer(JAMES), "Content-Type": "application/json"},
            )
            assert answer.status_code in (200, 422), answer.text
            # A model answer whose tool input holds NaN: refused by the gate, the history stays sendable.
            assert await answered_by(service, JAMES, poisoned, "refund me please") == "anthropic"
        # The same conversation, and every other customer, are still answered by Claude.
        assert await answered_by(service, JAMES, poisoned, "one more thing") == "anthropic"
        other = await service.new_conversation(RAJ)
        assert await answered_by(service, RAJ, other, "hi") == "anthropic"
    # What the provider was sent could all be encoded: no NaN, no lone surrogate.
    assert len(model_api.requests) >= 10
    for request in model_api.requests:
        json.dumps(request.body, allow_nan=False).encode("utf-8")


odd_ids = st.one_of(
    st.none(),
    st.integers(),
    st.just(""),
    st.text(min_size=65, max_size=300),
    st.lists(st.integers(), max_size=3),
    st.sampled_from(["toolu_same", "toolu_same", "a b", "\x00"]),
)
odd_names = st.one_of(
    st.none(),
    st.integers(),
    st.lists(st.text(max_size=5), max_size=2),
    st.text(max_size=80),
    st.sampled_from(["get_order_details", "issue_refund", "cancel_pending_order"]),
)
odd_inputs = st.one_of(
    st.none(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.lists(st.integers(), max_size=3),
    st.text(max_size=20),
    st.dictionaries(
        st.text(max_size=10),
        st.one_of(st.floats(allow_nan=True), st.text(max_size=10), st.none(), st.integers()),
        max_size=3,
    ),
    st.just({"order_id": "#W2611340"}),
)
odd_blocks = st.lists(st.tuples(odd_ids, odd_names, odd_inputs), min_size=1, max_size=4)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(blocks=odd_blocks)
async def test_malformed_tool_use_blocks_never_break_a_turn_or_the_conversation(
    sqlite_url: str, blocks: list[tuple[Any, Any, Any]]
) -> None:
    uses = tuple(fake.ToolUse(name, tool_input, id=block_id) for block_id, name, tool_input in blocks)  # type: ignore[arg-type]

    def model(body: dict[str, Any]) -> fake.Answer:
        content = body["messages"][-1]["content"]
        texts = [b.get("text", "") for b in content if b.get("type") == "text"] if isinstance(content, list) else []
        if "please help" in texts:
            return fake.Reply(content=uses, stop_reason="tool_use")
        if texts:
            return fake.say("Anything else?")
        return fake.say("Sorry about that.")

    with fake.FakeMessagesAPI(*[model] * 30) as api:
        # Every example shares one store (and so one customer's chat limit, which is not the subject here).
        many = {"SUPPORT_CHAT_PER_MINUTE": 100_000}
        async with running_service(sqlite_url, ANTHROPIC_BASE_URL=api.base_url, **ANTHROPIC, **many) as service:
            conversation = await service.new_conversation(JAMES)
            for _ in range(3):  # as often as it takes to open a circuit, were these counted against Claude
                await answered_by(service, JAMES, conversation, "please help")
            assert await answered_by(service, JAMES, conversation, "still there?") == "anthropic"
        sent = [r.body for r in api.requests]
    # Every request sent back to the provider pairs each tool_use with one tool_result, under unique ids.
    for body in sent:
        content = [b for m in body["messages"] if isinstance(m["content"], list) for b in m["content"]]
        ids = [b["id"] for b in content if b["type"] == "tool_use"]
        results = [b["tool_use_id"] for b in content if b["type"] == "tool_result"]
        assert len(ids) == len(set(ids)) and sorted(ids) == sorted(results)
        json.dumps(body, allow_nan=False).encode("utf-8")


async def test_two_identical_writes_with_one_id_run_twice_under_two_keys_and_are_reported_truly(
    sqlite_url: str,
    no_confirmations: str,
) -> None:
    refund = {"order_id": "#W2611340", "amount": 5, "reason": "late delivery"}
    model = ScriptedModel(
        [calls(("issue_refund", refund, "toolu_dup"), ("issue_refund", refund, "toolu_dup")), say("Both done.")]
    )
    async with running_service(sqlite_url, model, SUPPORT_POLICY_FILE=no_confirmations) as service:
        conversation = await service.new_conversation(JAMES)
        await answered_by(service, JAMES, conversation, "two refunds please")
        async with service.services.database.session(readonly=True) as session:
            keys = (await session.exec(select(LedgerEntry.idempotency_key))).all()
    assert len(keys) == 2 and len(set(keys)) == 2
    results = [b for m in model.requests[1].messages for b in m.tool_results]
    assert len(results) == 2 and len({r.tool_use_id for r in results}) == 2
    assert not any(r.is_error for r in results)


async def test_an_auto_write_and_a_later_held_call_sharing_an_id_keep_their_own_results(
    sqlite_url: str, no_confirmations: str
) -> None:
    small = {"order_id": "#W2611340", "amount": 5, "reason": "late delivery"}
    large = {"order_id": "#W2611340", "amount": 60, "reason": "broken item"}
    model = ScriptedModel(
        [
            calls(("issue_refund", small, "toolu_1")),
            calls(("issue_refund", large, "toolu_1")),
            say("The larger refund waits for a colleague."),
        ]
    )
    async with running_service(sqlite_url, model, SUPPORT_POLICY_FILE=no_confirmations) as service:
        conversation = await service.new_conversation(JAMES)
        run = (await service.say(JAMES, conversation, "refunds")).json()["run"]
        assert run["status"] == "awaiting_approval"
        approval_id = run["pending_action"]["approval_id"]
        model.add(say("Your $60 refund was approved."))
        approved = await service.http.post(
            f"/v1/approvals/{approval_id}/approve", json={"note": "ok"}, headers=bearer("agent_alice", role="agent")
        )
        assert approved.status_code == 200, approved.text
        assert approved.json()["approval"]["status"] == "executed"
        async with service.services.database.session(readonly=True) as session:
            entries = {e.refund_cents: e for e in (await session.exec(select(LedgerEntry))).all()}
            held = await session.get(Approval, approval_id)
    assert sorted(entries) == [500, 6000]
    assert held is not None and held.result == entries[6000].result != entries[500].result


async def test_tool_calls_are_bounded_per_answer_and_per_run(sqlite_url: str) -> None:
    lookups = [("get_order_details", {"order_id": "#W2611340"}, None)] * 400
    model = ScriptedModel([calls(*lookups)] * 8)
    async with running_service(
        sqlite_url, model, SUPPORT_MAX_TOOL_CALLS_PER_ANSWER=5, SUPPORT_MAX_TOOL_CALLS_PER_RUN=12
    ) as service:
        conversation = await service.new_conversation(JAMES)
        run = (await service.say(JAMES, conversation, "look it up a lot")).json()["run"]
        async with service.services.database.session(readonly=True) as session:
            executed = (await session.exec(select(Step).where(col(Step.kind) == "tool"))).all()
    assert (run["status"], run["budget_exhausted"]) == ("budget_exhausted", "model_calls")
    assert len(executed) == 12  # 5 + 5 + 2: the rest were refused before the gate
    results = [b for m in model.requests[-1].messages for b in m.tool_results]
    assert len(results) == 400 * 7  # every proposed call still gets its (refusal) result
    assert sum('"too_many_tool_calls"' in r.content for r in results) == 400 * 7 - 12


async def test_an_unexpected_error_mid_run_ends_the_run_and_the_conversation_goes_on(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = ScriptedModel(
        [
            calls(("get_customer_profile", {}, None), ("get_order_details", {"order_id": "#W2611340"}, None)),
            say("Here you are."),
        ]
    )
    async with running_service(sqlite_url, model) as service:
        gate = service.services.gate
        real = gate.submit

        async def breaks_on_orders(call: Any, *args: Any, **kwargs: Any) -> Any:
            if call.name == "get_order_details":
                raise RuntimeError("a defect in a tool")
            return await real(call, *args, **kwargs)

        monkeypatch.setattr(gate, "submit", breaks_on_orders)
        conversation = await service.new_conversation(JAMES)
        failed = await service.say(JAMES, conversation, "where is my order #W2611340?")
        assert failed.status_code == 200
        assert failed.json()["run"]["status"] == "failed"
        monkeypatch.setattr(gate, "submit", real)
        following = await service.say(JAMES, conversation, "try again")
        assert following.json()["run"]["status"] == "completed"
    # The history the model saw next paired every call with a result.
    history = [b for m in model.requests[-1].messages for b in m.content]
    uses = {b.id for b in history if isinstance(b, ToolUseBlock)}
    results = {b.tool_use_id for b in history if isinstance(b, ToolResultBlock)}
    assert uses == results and len(uses) == 2
