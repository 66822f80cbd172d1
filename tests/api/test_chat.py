"""A customer message through the HTTP API, answered by a scripted model: runs, steps, and how they end."""

from __future__ import annotations

import asyncio
import json

import pytest
from sqlmodel import col, select

from agent.conversations.tables import Approval, Run
from agent.conversations.tables import Step as StepRow
from agent.errors import ModelUnavailable
from agent.models.base import ModelRequest, Usage
from agent.models.scripted import ScriptedModel, Step, call, calls, say
from testkit.confirm import answer as confirm
from testkit.service import running_service

JAMES = "james_li_5688"


async def test_a_turn_with_a_tool_call(sqlite_url: str) -> None:
    model = ScriptedModel(
        [
            call("get_order_details", {"order_id": "#W2611340"}),
            say("Your order #W2611340 has been processed and is on its way."),
        ]
    )
    async with running_service(sqlite_url, model) as service:
        conversation = await service.new_conversation(JAMES)
        answer = await service.say(JAMES, conversation, "Where is my order #W2611340?")
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["message"]["content"] == "Where is my order #W2611340?"
        assert body["run"]["status"] == "completed"
        assert body["run"]["reply"] == "Your order #W2611340 has been processed and is on its way."
        assert body["run"]["usage"]["model_calls"] == 2
        # The model saw the real order in the tool result.
        shown = model.requests[1].messages[-1].tool_results[0]
        assert json.loads(shown.content)["status"] == "processed" and not shown.is_error

        read = await service.http.get(
            f"/v1/conversations/{conversation}", headers={"Authorization": answer.request.headers["Authorization"]}
        )
        assert [(m["role"], m["content"]) for m in read.json()["messages"]] == [
            ("customer", "Where is my order #W2611340?"),
            ("assistant", "Your order #W2611340 has been processed and is on its way."),
        ]
        async with service.services.database.session(readonly=True) as session:
            steps = (await session.exec(select(StepRow).order_by(col(StepRow.position)))).all()
        assert [(s.kind, s.tool, s.decision, s.stop_reason) for s in steps] == [
            ("model", None, None, "tool_use"),
            ("tool", "get_order_details", "allow", None),
            ("model", None, None, "end_turn"),
        ]
    model.assert_done()


async def test_parallel_tool_calls_are_answered_together_in_order(sqlite_url: str) -> None:
    model = ScriptedModel(
        [
            calls(
                ("get_order_details", {"order_id": "#W2611340"}, "t1"),
                ("get_customer_profile", {}, "t2"),
                ("get_order_details", {"order_id": "#W0000000"}, "t3"),
            ),
            say("Here is what I found."),
        ]
    )
    async with running_service(sqlite_url, model) as service:
        conversation = await service.new_conversation(JAMES)
        answer = await service.say(JAMES, conversation, "Tell me about my account")
        assert answer.json()["run"]["status"] == "completed"
    results = model.requests[1].messages[-1].tool_results
    assert [(r.tool_use_id, r.is_error) for r in results] == [("t1", False), ("t2", False), ("t3", True)]


async def test_a_denied_call_goes_back_to_the_model_to_explain(sqlite_url: str) -> None:
    def shows_denial(request: ModelRequest) -> None:
        result = request.messages[-1].tool_results[0]
        assert result.is_error
        assert json.loads(result.content)["error"]["rule"] == "precondition.order_not_pending"

    model = ScriptedModel(
        [
            call("cancel_pending_order", {"order_id": "#W2611340", "reason": "no longer needed"}),
            Step(response=say("That order has already been processed, so it can't be cancelled."), check=shows_denial),
        ]
    )
    async with running_service(sqlite_url, model) as service:
        conversation = await service.new_conversation(JAMES)
        answer = await service.say(JAMES, conversation, "Cancel #W2611340, I no longer need it")
        assert answer.json()["run"]["status"] == "completed"
        assert "can't be cancelled" in answer.json()["run"]["reply"]
    model.assert_done()


async def test_invalid_arguments_are_corrected_on_the_next_step(sqlite_url: str) -> None:
    def names_the_field(request: ModelRequest) -> None:
        error = json.loads(request.messages[-1].tool_results[0].content)["error"]
        assert error["code"] == "invalid_arguments"
        assert error["details"]["problems"][0]["field"] == "order_id"

    model = ScriptedModel(
        [
            call("get_order_details", {"order": "2611340"}),
            Step(response=call("get_order_details", {"order_id": "W2611340"}), check=names_the_field),
            say("Found it: processed."),
        ]
    )
    async with running_service(sqlite_url, model) as service:
        conversation = await service.new_conversation(JAMES)
        answer = await service.say(JAMES, conversation, "order 2611340?")
    assert answer.json()["run"]["status"] == "completed"
    assert not model.requests[2].messages[-1].tool_results[0].is_error


async def test_a_call_over_the_automatic_limit_pauses_for_approval(sqlite_url: str) -> None:
    model = ScriptedModel([call("issue_refund", {"order_id": "#W2611340", "amount": 60, "reason": "late delivery"})])
    async with running_service(sqlite_url, model) as service:
        conversation = await service.new_conversation(JAMES)
        answer = await service.say(JAMES, conversation, "My order was late, can I get $60 back?")
        assert answer.status_code == 200
        run = await confirm(service, JAMES, conversation, answer.json()["run"])
        assert run["status"] == "awaiting_approval"
        assert (
            "team" in run["reply"] and "refund $60.00 on order #W2611340 to gift card (balance $17.00)" in run["reply"]
        )
        pending = run["pending_action"]
        assert (pending["tool"], pending["amount"], pending["approver_role"], pending["status"]) == (
            "issue_refund",
            60.0,
            "agent",
            "pending",
        )
        async with service.services.database.session(readonly=True) as session:
            approval = (await session.exec(select(Approval).where(col(Approval.kind) == "approval"))).one()
        assert approval.arguments == {"order_id": "#W2611340", "amount": 60, "reason": "late delivery"}
        assert approval.state["messages"][-1]["content"][0]["type"] == "tool_use"
    model.assert_done()


async def test_a_handoff_ends_the_run(sqlite_url: str) -> None:
    model = ScriptedModel([call("transfer_to_human_agents", {"summary": "customer asks for a person"})])
    async with running_service(sqlite_url, model) as service:
        conversation = await service.new_conversation(JAMES)
        answer = await service.say(JAMES, conversation, "I want to talk to a person")
    assert answer.json()["run"]["status"] == "handed_off"
    model.assert_done()


@pytest.mark.parametrize(
    ("limits", "script", "which"),
    [
        ({"SUPPORT_MAX_MODEL_CALLS": 2}, [call("get_customer_profile"), call("get_customer_profile")], "model_calls"),
        ({"SUPPORT_RUN_TIMEOUT_S": 0.3}, [Step(response=say("late"), delay_s=5)], "wall_clock"),
        ({"SUPPORT_MAX_RUN_TOKENS": 1000}, [call("get_customer_profile", usage=Usage(900, 200))], "tokens"),
        (
            {"SUPPORT_MAX_RUN_COST_USD": 0.001, "SUPPORT_MODEL": "offline"},
            [call("get_customer_profile", usage=Usage(10_000, 10))],
            "cost",
        ),
    ],
    ids=["model-calls", "wall-clock", "tokens", "cost"],
)
async def test_every_budget_ends_the_run_politely(
    sqlite_url: str, limits: dict[str, object], script: list[object], which: str
) -> None:
    model = ScriptedModel(script)  # type: ignore[arg-type]
    async with running_service(sqlite_url, model, **limits) as service:
        conversation = await service.new_conversation(JAMES)
        answer = await service.say(JAMES, conversation, "What's on my account?")
        assert answer.status_code == 200
        run = answer.json()["run"]
        assert (run["status"], run["budget_exhausted"]) == ("budget_exhausted", which)
        assert "sorry" in run["reply"].lower()
        # Tool calls of the last answer all ran to completion before the budget stopped the run.
        async with service.services.database.session(readonly=True) as session:
            steps = (await session.exec(select(StepRow).where(StepRow.kind == "tool"))).all()
        assert all(s.result is not None for s in steps)
    model.assert_done()


async def test_a_model_failure_is_a_failed_run_not_a_500(sqlite_url: str) -> None:
    model = ScriptedModel([Step(error=ModelUnavailable("529 overloaded, retries spent"))])
    async with running_service(sqlite_url, model) as service:
        conversation = await service.new_conversation(JAMES)
        answer = await service.say(JAMES, conversation, "hello")
        assert answer.status_code == 200
        assert answer.json()["run"]["status"] == "failed"
        # The conversation is free again and the next message is answered.
        model.add(say("Hello again!"))
        again = await service.say(JAMES, conversation, "hello?")
        assert again.json()["run"]["reply"] == "Hello again!"


@pytest.mark.parametrize(
    ("stop_reason", "status", "reply_has"),
    [
        ("max_tokens", "completed", "cut short"),
        ("refusal", "completed", "can't help"),
        ("stop_sequence", "completed", "partial"),
        ("model_context_window_exceeded", "completed", "partial\n\n(My answer was cut short"),
    ],
)
async def test_every_stop_reason_is_handled(sqlite_url: str, stop_reason: str, status: str, reply_has: str) -> None:
    model = ScriptedModel([say("partial", stop_reason=stop_reason)])
    async with running_service(sqlite_url, model) as service:
        conversation = await service.new_conversation(JAMES)
        run = (await service.say(JAMES, conversation, "hi")).json()["run"]
    assert run["status"] == status and reply_has in run["reply"]


async def test_a_cut_answer_does_not_run_its_tool_calls(sqlite_url: str) -> None:
    cut = call("issue_refund", {"order_id": "#W2611340", "amount": 5, "reason": "la"})
    model = ScriptedModel([type(cut)(content=cut.content, stop_reason="max_tokens", usage=cut.usage)])
    async with running_service(sqlite_url, model) as service:
        conversation = await service.new_conversation(JAMES)
        run = (await service.say(JAMES, conversation, "refund please")).json()["run"]
        async with service.services.database.session(readonly=True) as session:
            assert (await session.exec(select(StepRow).where(StepRow.kind == "tool"))).all() == []
    assert run["status"] == "completed"


async def test_the_message_is_stored_before_the_model_is_called(sqlite_url: str) -> None:
    """If something breaks during the model call, the customer's message is already safe, and the run ends in a
    defined status with a reply rather than a 500."""
    model = ScriptedModel([Step(error=RuntimeError("a defect mid-call"))])  # type: ignore[arg-type]
    async with running_service(sqlite_url, model) as service:
        conversation = await service.new_conversation(JAMES)
        broken = await service.say(JAMES, conversation, "Please keep this message")
        assert broken.status_code == 200
        assert broken.json()["run"]["status"] == "failed"
        messages = await service.services.runs.messages(conversation)
        assert (messages[0].role, messages[0].content) == ("customer", "Please keep this message")
        assert messages[-1].role == "assistant"


async def test_history_carries_into_the_next_turn(database_url: str) -> None:
    model = ScriptedModel(
        [
            call("get_order_details", {"order_id": "#W2611340"}),
            say("It is processed."),
            Step(response=say("You're welcome."), check=lambda r: _assert_history(r)),
        ]
    )
    async with running_service(database_url, model) as service:
        conversation = await service.new_conversation(JAMES)
        await service.say(JAMES, conversation, "Where is #W2611340?")
        await service.say(JAMES, conversation, "Thanks")
    model.assert_done()


def _assert_history(request: ModelRequest) -> None:
    roles = [m.role for m in request.messages]
    assert roles == ["user", "assistant", "user", "assistant", "user"]
    assert request.messages[0].text == "Where is #W2611340?" and request.messages[-1].text == "Thanks"


async def test_runs_are_stored_with_usage_and_cost(sqlite_url: str) -> None:
    model = ScriptedModel([say("Hi!", usage=Usage(1000, 100, cache_read_input_tokens=5000))])
    async with running_service(sqlite_url, model) as service:
        conversation = await service.new_conversation(JAMES)
        await service.say(JAMES, conversation, "hello")
        async with service.services.database.session(readonly=True) as session:
            run = (await session.exec(select(Run))).one()
    assert (run.input_tokens, run.output_tokens, run.cache_read_tokens) == (1000, 100, 5000)
    assert run.cost_micro_usd > 0  # priced as an unknown model: the conservative row


async def test_a_second_message_while_one_is_answered_gets_409(database_url: str) -> None:
    model = ScriptedModel([Step(response=say("first"), delay_s=0.5)])
    async with running_service(database_url, model) as service:
        conversation = await service.new_conversation(JAMES)
        first = asyncio.create_task(service.say(JAMES, conversation, "first message"))
        await asyncio.sleep(0.2)
        second = await service.say(JAMES, conversation, "second message")
        assert second.status_code == 409
        assert second.json()["error"]["code"] == "conversation_busy"
        assert second.headers["Retry-After"] == "2"
        assert (await first).json()["run"]["reply"] == "first"
        contents = [m.content for m in await service.services.runs.messages(conversation)]
        assert contents == ["first message", "first"]  # the refused message was not half-stored
    model.assert_done()
