"""Spans and metrics of runs, on in-memory exporters: the tree, the GenAI attributes, the policy decisions, the
link across an approval, and masked content."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from opentelemetry.trace import SpanKind, StatusCode

from agent.models.base import Usage
from agent.models.scripted import ScriptedModel, call, calls, say
from agent.telemetry.masking import mask
from testkit import fixture_data as data
from testkit.service import bearer, running_service
from testkit.telemetry import Recorded, recording

JAMES = "james_li_5688"
AGENT = bearer("agent_alice", role="agent")


@pytest.fixture
def recorded() -> Iterator[Recorded]:
    with recording() as found:
        yield found


def allowed_denied_paused() -> ScriptedModel:
    return ScriptedModel(
        [
            calls(
                ("get_order_details", {"order_id": "#W2611340"}, "toolu_read"),
                ("issue_refund", {"order_id": "#W2611340", "amount": 300, "reason": "late"}, "toolu_denied"),
            ),
            call("issue_refund", {"order_id": "#W2611340", "amount": 150, "reason": "late"}, call_id="toolu_held"),
            say("A team member approved the refund; it is on its way."),
        ]
    )


async def test_a_run_with_an_allowed_a_denied_and_a_paused_call(
    sqlite_url: str, no_confirmations: str, recorded: Recorded
) -> None:
    async with running_service(
        sqlite_url, allowed_denied_paused(), telemetry=recorded.telemetry, SUPPORT_POLICY_FILE=no_confirmations
    ) as service:
        conversation = await service.new_conversation(JAMES)
        answer = (await service.say(JAMES, conversation, "refund please")).json()
    assert answer["run"]["status"] == "awaiting_approval"

    [run] = recorded.named("invoke_agent")
    assert run.name == "invoke_agent support" and run.kind is SpanKind.INTERNAL
    assert run.attributes is not None
    assert run.attributes["gen_ai.operation.name"] == "invoke_agent"
    assert run.attributes["gen_ai.agent.name"] == "support"
    assert run.attributes["gen_ai.provider.name"] == "scripted"
    assert run.attributes["gen_ai.conversation.id"] == conversation
    assert run.attributes["gen_ai.request.model"] == "scripted-1"
    assert (
        run.attributes["gen_ai.usage.input_tokens"] == 100
        and run.attributes["support.run.status"] == "awaiting_approval"
    )
    assert format(run.context.trace_id, "032x") == answer["run"]["trace_id"]
    assert run.parent is not None  # under the HTTP server span of the request

    chats = recorded.named("chat ")
    assert [c.name for c in chats] == ["chat scripted-1", "chat scripted-1"]
    assert all(c.kind is SpanKind.CLIENT and c.parent and c.parent.span_id == run.context.span_id for c in chats)

    tools = {s.attributes["gen_ai.tool.call.id"]: s for s in recorded.named("execute_tool") if s.attributes}
    assert {k: (v.attributes or {})["policy.outcome"] for k, v in tools.items()} == {
        "toolu_read": "allow",
        "toolu_denied": "deny",
        "toolu_held": "needs_approval",
    }
    for span in tools.values():
        assert span.parent is not None and span.parent.span_id == run.context.span_id
        assert span.status.status_code is not StatusCode.ERROR  # refused or held is not an error
        assert (span.attributes or {})["policy.version"].startswith("retail-")
        assert "gen_ai.tool.call.arguments" not in (span.attributes or {})  # content is off
    assert tools["toolu_denied"].attributes["policy.rule"].startswith("money")  # type: ignore[index]
    assert [e.name for e in tools["toolu_held"].events] == ["policy.decision"]


async def test_the_resumed_run_links_to_the_paused_one_and_back(
    sqlite_url: str, no_confirmations: str, recorded: Recorded
) -> None:
    async with running_service(
        sqlite_url, allowed_denied_paused(), telemetry=recorded.telemetry, SUPPORT_POLICY_FILE=no_confirmations
    ) as service:
        conversation = await service.new_conversation(JAMES)
        paused = (await service.say(JAMES, conversation, "refund please")).json()["run"]
        approval_id = paused["pending_action"]["approval_id"]
        approval = (await service.http.get(f"/v1/approvals/{approval_id}", headers=AGENT)).json()
        assert approval["trace_id"] == paused["trace_id"]
        decided = (await service.http.post(f"/v1/approvals/{approval_id}/approve", json={}, headers=AGENT)).json()

    first, resumed = recorded.named("invoke_agent")
    assert resumed.attributes is not None
    assert format(resumed.context.trace_id, "032x") == decided["run"]["trace_id"] != paused["trace_id"]
    assert [link.context.span_id for link in resumed.links] == [first.context.span_id]
    assert resumed.attributes["support.approval.id"] == approval_id
    assert resumed.attributes["support.approval.approver"] == "agent_alice"
    assert resumed.attributes["support.approval.wait_s"] >= 0

    [marker] = recorded.named("approval ")
    assert marker.name == "approval approved"
    assert marker.context.trace_id == first.context.trace_id  # it lives in the paused trace...
    assert [link.context.span_id for link in marker.links] == [resumed.context.span_id]  # ...and points forward


async def test_content_is_recorded_only_when_switched_on_and_then_masked(sqlite_url: str, recorded: Recorded) -> None:
    recorded.telemetry.capture_content = True
    model = ScriptedModel([call("get_customer_profile", {}, call_id="toolu_profile"), say("Here you go.")])
    async with running_service(sqlite_url, model, telemetry=recorded.telemetry) as service:
        conversation = await service.new_conversation(JAMES)
        await service.say(JAMES, conversation, "my email is james.li4495@example.com")
    [tool] = recorded.named("execute_tool")
    result = json.loads((tool.attributes or {})["gen_ai.tool.call.result"])  # type: ignore[arg-type]
    assert result["email"] == "***" and result["address"]["address1"] == "***"
    assert list(result["payment_methods"]) == ["gift_card_***"]
    chat = recorded.named("chat ")[0]
    shown = str((chat.attributes or {})["gen_ai.input.messages"])
    assert "example.com" not in shown and "***@***" in shown


def test_masking_reaches_nested_text() -> None:
    assert mask({"note": "pay with paypal_123 or mail a@b.co", "zip": "10001", "n": 3}) == {
        "note": "pay with paypal_*** or mail ***@***",
        "zip": "***",
        "n": 3,
    }


async def test_metrics_count_tokens_durations_tool_outcomes_and_pending_approvals(
    sqlite_url: str, no_confirmations: str, recorded: Recorded
) -> None:
    async with running_service(
        sqlite_url, allowed_denied_paused(), telemetry=recorded.telemetry, SUPPORT_POLICY_FILE=no_confirmations
    ) as service:
        conversation = await service.new_conversation(JAMES)
        await service.say(JAMES, conversation, "refund please")
    data = recorded.metrics.get_metrics_data()
    assert data is not None
    points = {
        metric.name: metric.data.data_points
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
    }
    assert {"gen_ai.client.token.usage", "gen_ai.client.operation.duration", "support.tool.calls"} <= set(points)
    outcomes = {p.attributes["policy.outcome"]: p.value for p in points["support.tool.calls"]}  # type: ignore[index, attr-defined]
    assert outcomes == {"allow": 1, "deny": 1, "needs_approval": 1}
    assert [p.value for p in points["support.approvals.pending"]] == [1]  # type: ignore[attr-defined]
    token_types = {p.attributes["gen_ai.token.type"] for p in points["gen_ai.client.token.usage"]}  # type: ignore[index]
    assert token_types == {"input", "output"}


async def test_the_approved_call_has_its_own_execute_tool_span_in_the_resumed_trace(
    sqlite_url: str, no_confirmations: str, recorded: Recorded
) -> None:
    async with running_service(
        sqlite_url, allowed_denied_paused(), telemetry=recorded.telemetry, SUPPORT_POLICY_FILE=no_confirmations
    ) as service:
        conversation = await service.new_conversation(JAMES)
        paused = (await service.say(JAMES, conversation, "refund please")).json()["run"]
        approval_id = paused["pending_action"]["approval_id"]
        decided = (await service.http.post(f"/v1/approvals/{approval_id}/approve", json={}, headers=AGENT)).json()
    assert decided["approval"]["status"] == "executed", decided

    held = [
        s
        for s in recorded.named("execute_tool issue_refund")
        if (s.attributes or {}).get("gen_ai.tool.call.id") == "toolu_held"
    ]
    assert len(held) == 2  # the call as the policy held it, and the call as it ran after the approval
    first, executed = sorted(held, key=lambda s: s.start_time or 0)
    assert (first.attributes or {})["policy.outcome"] == "needs_approval"
    assert format(first.context.trace_id, "032x") == paused["trace_id"]
    assert format(executed.context.trace_id, "032x") == decided["run"]["trace_id"]  # the resumed trace
    assert (executed.attributes or {})["policy.outcome"] == "approved"
    assert (executed.attributes or {})["support.approval.id"] == approval_id
    assert executed.status.status_code is not StatusCode.ERROR
    assert [link.context.trace_id for link in executed.links] == [first.context.trace_id]


async def test_input_tokens_on_spans_include_cached_tokens(sqlite_url: str, recorded: Recorded) -> None:
    usage = Usage(input_tokens=20, output_tokens=5, cache_read_input_tokens=900, cache_creation_input_tokens=80)
    async with running_service(
        sqlite_url, ScriptedModel([say("Hello.", usage=usage)]), telemetry=recorded.telemetry
    ) as service:
        conversation = await service.new_conversation(JAMES)
        await service.say(JAMES, conversation, "hi")
    [chat] = recorded.named("chat ")
    [run] = recorded.named("invoke_agent")
    for span in (chat, run):
        attributes = span.attributes or {}
        assert attributes["gen_ai.usage.input_tokens"] == 1000
        assert attributes["gen_ai.usage.cache_read.input_tokens"] == 900
        assert attributes["gen_ai.usage.cache_creation.input_tokens"] == 80


async def test_the_customers_own_name_and_address_are_masked_in_free_text(sqlite_url: str, recorded: Recorded) -> None:
    recorded.telemetry.capture_content = True
    james = data.user(JAMES)
    first, last = james["name"]["first_name"], james["name"]["last_name"]
    street, city = james["address"]["address1"], james["address"]["city"]
    message = f"Hi, this is {first} {last}. Send it to {street}, {city}. Call me on +1 (415) 555-0199."
    model = ScriptedModel([say(f"Thanks {first}, I will note {street} in {city}.")])
    async with running_service(sqlite_url, model, telemetry=recorded.telemetry) as service:
        conversation = await service.new_conversation(JAMES)
        await service.say(JAMES, conversation, message)
    [chat] = recorded.named("chat ")
    recorded_text = str((chat.attributes or {})["gen_ai.input.messages"]) + str(
        (chat.attributes or {})["gen_ai.output.messages"]
    )
    for secret in (first, last, street, city, "555-0199"):
        assert secret not in recorded_text, secret
    assert "Send it to ***" in recorded_text and "Call me on ***" in recorded_text
