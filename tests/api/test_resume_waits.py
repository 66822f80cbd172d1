"""The other way round: a decision made while another run answers in the conversation waits for that run to end,
then answers, so the customer's replies come in order; and one that waits past its bound is told later by the
recovery pass, not lost. On both databases."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import update
from sqlmodel import col, select

from agent.conversations.tables import Approval, Conversation, Run
from agent.models.base import ModelRequest, ModelResponse, TextSink
from agent.models.scripted import ScriptedModel, call, say
from basics.clock import utcnow
from testkit.service import ServiceClient, bearer, running_service

JAMES = "james_li_5688"
AGENT = bearer("agent_alice", role="agent")
HOLD = "Where is my order? (held)"


class HeldWhile(ScriptedModel):
    """A scripted model that keeps the run answering `HOLD` waiting on its model call until `release` is set."""

    def __init__(self, *steps: ModelResponse) -> None:
        super().__init__(steps)
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    async def complete(self, request: ModelRequest, *, on_text: TextSink | None = None) -> ModelResponse:
        if HOLD in str(request.messages[-1].to_json()):
            self.entered.set()
            await self.release.wait()
        return await super().complete(request, on_text=on_text)


async def approval_status(service: ServiceClient, approval_id: str) -> str:
    async with service.services.database.session(readonly=True) as session:
        return str((await session.exec(select(Approval.status).where(Approval.id == approval_id))).one())


async def executed(service: ServiceClient, approval_id: str) -> None:
    """Until the approved action has run (the approval's request then waits for the conversation)."""
    async with asyncio.timeout(20):
        while await approval_status(service, approval_id) != "executed":  # noqa: ASYNC110 - another task's work
            await asyncio.sleep(0.01)


async def test_an_approval_made_while_the_customer_is_answered_waits_and_replies_in_order(
    database_url: str, no_confirmations: str
) -> None:
    model = HeldWhile(
        call("issue_refund", {"order_id": "#W2611340", "amount": 150, "reason": "damaged"}),
        say("Order #W2611340 has shipped."),
        say("Your refund of $150.00 is on its way."),
    )
    async with running_service(database_url, model, SUPPORT_POLICY_FILE=no_confirmations) as service:
        conversation = await service.new_conversation(JAMES)
        paused = (await service.say(JAMES, conversation, "Refund please")).json()["run"]
        approval_id = paused["pending_action"]["approval_id"]
        answering = asyncio.create_task(service.say(JAMES, conversation, HOLD))
        await model.entered.wait()
        approving = asyncio.create_task(
            service.http.post(f"/v1/approvals/{approval_id}/approve", json={}, headers=AGENT)
        )
        await executed(service, approval_id)
        assert not approving.done()  # it waits for the conversation
        model.release.set()
        message, decision = await answering, await approving
        assert message.json()["run"]["reply"] == "Order #W2611340 has shipped."
        assert decision.status_code == 200, decision.text
        assert decision.json()["run"]["reply"] == "Your refund of $150.00 is on its way."
        read = await service.http.get(f"/v1/conversations/{conversation}", headers=AGENT)
        said = [(m["role"], m["content"]) for m in read.json()["messages"]]
    assert said[2:] == [
        ("customer", HOLD),
        ("assistant", "Order #W2611340 has shipped."),
        ("assistant", "Your refund of $150.00 is on its way."),
    ]
    model.assert_done()


async def test_a_decision_that_waits_too_long_is_told_by_the_recovery_pass(
    sqlite_url: str, no_confirmations: str
) -> None:
    model = ScriptedModel(
        [
            call("issue_refund", {"order_id": "#W2611340", "amount": 150, "reason": "damaged"}),
            say("Your refund of $150.00 is on its way."),
        ]
    )
    async with running_service(
        sqlite_url, model, SUPPORT_POLICY_FILE=no_confirmations, SUPPORT_RUN_TIMEOUT_S=0.5
    ) as service:  # a decision waits the run's budget and 5 s more for its conversation: 5.5 s here
        conversation = await service.new_conversation(JAMES)
        paused = (await service.say(JAMES, conversation, "Refund please")).json()["run"]
        approval_id = paused["pending_action"]["approval_id"]
        await hold_conversation(service, conversation, "run_stuck")  # a run of this live process, never ending
        decision = await service.http.post(f"/v1/approvals/{approval_id}/approve", json={}, headers=AGENT)
        assert decision.status_code == 200, decision.text
        assert (decision.json()["approval"]["status"], decision.json()["run"]) == ("executed", None)
        await hold_conversation(service, conversation, None)
        assert await service.services.desk.recover(grace=timedelta(0)) == 1
        read = await service.http.get(f"/v1/conversations/{conversation}", headers=AGENT)
        said = [(m["role"], m["content"]) for m in read.json()["messages"]]
    assert said[-1] == ("assistant", "Your refund of $150.00 is on its way.")
    model.assert_done()


async def hold_conversation(service: ServiceClient, conversation: str, run_id: str | None) -> None:
    """Make `run_id` (a running run of this process) hold the conversation, or (None) let it go."""
    async with service.services.database.session() as session:
        if run_id is not None:
            session.add(
                Run(
                    id=run_id,
                    conversation_id=conversation,
                    customer_id=JAMES,
                    status="running",
                    started_at=utcnow(),
                    worker_id=service.services.lease.worker_id,
                )
            )
        await session.exec(
            update(Conversation)
            .where(col(Conversation.id) == conversation)
            .values(active_run_id=run_id, active_since=utcnow() if run_id else None)
        )
        await session.commit()
