"""Flags on runs through the API: a reply that states what the run never saw is flagged (and with `hold` never
reaches the customer, who is told a colleague will check, while the desk gets the conversation); the same reply
with the facts in the run's tool results or passages is not; and how a run ended (a fallback model, a refusal, a
budget, a failure) is flagged too. Each flag is a row, a span event and a count, and the run says it has them."""

from __future__ import annotations

import html
from typing import Any

import pytest
from pydantic import ValidationError
from sqlmodel import col, select

from agent.conversations.tables import ChatMessage, ConversationEvent, Handoff, RunFlag
from agent.errors import ModelUnavailable
from agent.models.base import ModelResponse, Usage
from agent.models.fallback import FallbackChain
from agent.models.offline import OfflineModel
from agent.models.scripted import ScriptedModel, Step, call, say
from agent.quality.reply_check import ReplyCheck
from agent.turn.replies import REPLY_HELD
from testkit.desk import sign_in
from testkit.service import ServiceClient, bearer, running_service, service_settings
from testkit.telemetry import recording

JAMES = "james_li_5688"
ORDER = "#W2611340"
"""James's order: paid $536.65, tracking number 357962501027."""
ALICE = bearer("agent_alice", role="agent")


async def flags_of(service: ServiceClient, run_id: str) -> list[tuple[str, str]]:
    async with service.services.database.session(readonly=True) as session:
        rows = await session.exec(select(RunFlag).where(col(RunFlag.run_id) == run_id).order_by(col(RunFlag.id)))
        return [(r.kind, r.value) for r in rows.all()]


UNGROUNDED = [
    ("The total of order #W2611340 is $412.00.", "ungrounded_amount", "$412.00"),
    ("Its tracking number is 1Z999AA10123456784.", "ungrounded_tracking", "1Z999AA10123456784"),
    ("Your refund reaches your card after 3 business days.", "ungrounded_policy", "3 business days"),
]


@pytest.mark.parametrize(("reply", "kind", "stated"), UNGROUNDED, ids=["total", "tracking", "refund-timing"])
async def test_a_fact_the_run_never_saw_is_flagged_and_the_reply_still_sent(
    database_url: str, reply: str, kind: str, stated: str
) -> None:
    model = ScriptedModel([call("get_order_details", {"order_id": ORDER}), say(reply)])
    with recording() as seen:
        async with running_service(database_url, model, telemetry=seen.telemetry) as service:
            conversation = await service.new_conversation(JAMES)
            answer = await service.say(JAMES, conversation, f"Tell me about {ORDER}")
            run = answer.json()["run"]
            assert (run["status"], run["reply"]) == ("completed", reply)
            assert run["flags"] == [{"kind": kind, "value": stated}]
            assert await flags_of(service, run["id"]) == [(kind, stated)]
            read = await service.http.get(f"/v1/conversations/{conversation}", headers=bearer(JAMES))
            assert read.json()["runs"][-1]["flags"] == [{"kind": kind, "value": stated}]
        (span,) = seen.named("invoke_agent")
        assert [(e.name, dict(e.attributes or {})) for e in span.events] == [
            ("support.run.flag", {"support.flag.kind": kind})
        ]
        (point,) = seen.points()["support.run.flags"]
        assert point.value == 1 and point.attributes["kind"] == kind


GROUNDED = [
    ("The total of order #W2611340 is $536.65.", [call("get_order_details", {"order_id": ORDER})]),
    ("Its tracking number is 357962501027.", [call("get_order_details", {"order_id": ORDER})]),
    (
        "Your refund should show up soon; if not, ask again after 7 business days.",
        [call("search_help_centre", {"query": "how long does a refund take"})],
    ),
]


@pytest.mark.parametrize(("reply", "script"), GROUNDED, ids=["total", "tracking", "refund-timing"])
async def test_the_same_facts_seen_in_the_run_get_no_flag(
    sqlite_url: str, reply: str, script: list[ModelResponse]
) -> None:
    model = ScriptedModel([*script, say(reply)])
    async with running_service(sqlite_url, model, SUPPORT_GROUNDING_FLAGS="hold") as service:
        conversation = await service.new_conversation(JAMES)
        run = (await service.say(JAMES, conversation, "Tell me about my order and refunds")).json()["run"]
        assert (run["status"], run["reply"], run["flags"]) == ("completed", reply, [])
        assert await flags_of(service, run["id"]) == []
    model.assert_done()


@pytest.mark.parametrize(("reply", "kind", "stated"), UNGROUNDED, ids=["total", "tracking", "refund-timing"])
async def test_with_hold_the_customer_never_reads_an_ungrounded_reply(
    database_url: str, reply: str, kind: str, stated: str
) -> None:
    model = ScriptedModel([call("get_order_details", {"order_id": ORDER}), say(reply)])
    async with running_service(database_url, model, SUPPORT_GROUNDING_FLAGS="hold") as service:
        conversation = await service.new_conversation(JAMES)
        answer = await service.http.post(
            f"/v1/conversations/{conversation}/messages",
            json={"content": f"Tell me about {ORDER}"},
            headers={**bearer(JAMES), "Accept": "text/event-stream"},
        )
        assert answer.status_code == 200
        assert stated not in answer.text and REPLY_HELD in answer.text  # no streamed word of it either
        read = (await service.http.get(f"/v1/conversations/{conversation}", headers=bearer(JAMES))).json()
        run = read["runs"][-1]
        assert (run["status"], run["reply"]) == ("handed_off", REPLY_HELD)
        assert run["flags"] == [{"kind": kind, "value": ""}]  # the fact stays with the team
        assert stated not in str(read)
        async with service.services.database.session(readonly=True) as session:
            events = (await session.exec(select(ConversationEvent))).all()
            messages = (await session.exec(select(ChatMessage))).all()
            (handoff,) = (await session.exec(select(Handoff))).all()
        assert all(stated not in str(e.data) for e in events)
        assert [m.content for m in messages if m.role == "assistant"] == [REPLY_HELD]
        assert handoff.reason == "reply_held" and stated in handoff.summary and reply in handoff.summary
        assert await flags_of(service, run["id"]) == [(kind, stated)]
        queue = (await service.http.get("/v1/handoffs", headers=ALICE)).json()
        assert [h["conversation_id"] for h in queue] == [conversation]
        # The desk says why in words, shows the held answer for the check, and marks the run's flag.
        alice = await sign_in(service.http, "agent_alice", "agent")
        desk_queue = (await service.http.get("/desk/queue", headers=alice.headers)).text
        handoff_page = (await service.http.get(f"/desk/handoffs/{handoff.id}", headers=alice.headers)).text
        review = (await service.http.get(f"/desk/conversations/{conversation}", headers=alice.headers)).text
        assert "the assistant&#39;s answer was held for a check" in handoff_page and "reply_held" not in handoff_page
        assert html.escape(reply, quote=True) in handoff_page and "held for a check" in desk_queue
        assert WORDS[kind] in review and html.escape(stated) in review
    model.assert_done()


WORDS = {
    "ungrounded_amount": "States an amount no order, message or help article showed",
    "ungrounded_tracking": "Gives a tracking number the order never showed",
    "ungrounded_policy": "States a store policy without a help-centre article behind it",
}


def test_a_bad_grounding_setting_refuses_to_start() -> None:
    with pytest.raises(ValidationError, match="SUPPORT_GROUNDING_FLAGS"):
        service_settings("sqlite:///nowhere.db", SUPPORT_GROUNDING_FLAGS="warn")


def scripted(provider: str, *steps: Step | ModelResponse) -> ScriptedModel:
    model = ScriptedModel(steps)
    model.provider = provider  # type: ignore[misc]
    return model


async def ended(database_url: str, model: Any, **settings: Any) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    async with running_service(database_url, model, **settings) as service:
        conversation = await service.new_conversation(JAMES)
        run = (await service.say(JAMES, conversation, f"Where is my order {ORDER}?")).json()["run"]
        return run, await flags_of(service, run["id"])


async def test_an_answer_from_the_fallback_model_is_flagged_with_its_reason(database_url: str) -> None:
    down = Step(error=ModelUnavailable("HTTP 529 overloaded"))
    chain = FallbackChain([scripted("primary", down, down), OfflineModel()])
    run, stored = await ended(database_url, chain)
    assert stored == [("fallback", run["fallback_reason"])] and run["fallback_reason"]
    assert run["flags"] == [{"kind": "fallback", "value": run["fallback_reason"]}]


async def test_a_refusal_a_spent_budget_and_a_failure_are_flagged(sqlite_url: str) -> None:
    _, refused = await ended(sqlite_url, ScriptedModel([say("", stop_reason="refusal")]))
    assert refused == [("provider_refusal", "refusal")]
    spent = ScriptedModel([call("get_customer_profile"), call("get_customer_profile")])
    _, budget = await ended(sqlite_url, spent, SUPPORT_MAX_MODEL_CALLS=2)
    assert budget == [("budget_exhausted", "model_calls")]
    _, failed = await ended(sqlite_url, ScriptedModel([Step(error=ModelUnavailable("HTTP 500 down"))]))
    assert [kind for kind, _ in failed] == ["failed"] and "HTTP 500 down" in failed[0][1]


async def test_a_run_without_flags_writes_none(database_url: str) -> None:
    run, stored = await ended(database_url, ScriptedModel([say("Happy to help.", usage=Usage(10, 10))]))
    assert (run["flags"], stored) == ([], [])


async def test_a_grounding_check_that_breaks_sends_the_reply_unchecked_and_says_so(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("the check broke")

    reply = "The total of order #W2611340 is $412.00."
    model = ScriptedModel([call("get_order_details", {"order_id": ORDER}), say(reply)])
    with recording() as seen:
        async with running_service(sqlite_url, model, telemetry=seen.telemetry) as service:
            monkeypatch.setattr(ReplyCheck, "ungrounded", broken)
            conversation = await service.new_conversation(JAMES)
            run = (await service.say(JAMES, conversation, f"Tell me about {ORDER}")).json()["run"]
            assert (run["status"], run["reply"], run["flags"]) == ("completed", reply, [])
        (point,) = seen.points()["support.grounding.unchecked"]
        assert point.value == 1
    assert any(r.levelname == "ERROR" and "grounding check" in r.getMessage() for r in caplog.records)
