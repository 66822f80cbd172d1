"""Held actions through the approvals API: authority, amendments, rejection, expiry, concurrency, recovery.

Conversations are driven by the offline model, so each test is the real path: customer message -> policy
holds the call -> staff decide -> the tool runs once -> the paused conversation is answered.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import col, select

from agent.conversations.tables import Approval, Run
from agent.held.approvals import arguments_hash
from basics.clock import utcnow
from testkit import fixture_data as data
from testkit.confirm import answer
from testkit.service import ServiceClient, bearer, running_service
from tools.store.tables import LedgerEntry, Order

JAMES = "james_li_5688"
AGENT = bearer("agent_alice", role="agent")
SUPERVISOR = bearer("supervisor_sam", role="supervisor")


def paid(order: data.Order) -> float:
    return sum(t["amount"] for t in order["payment_history"] if t["transaction_type"] == "payment")


async def say(service: ServiceClient, customer: str, conversation: str, text: str) -> dict[str, Any]:
    answer = await service.say(customer, conversation, text)
    assert answer.status_code == 200, answer.text
    run: dict[str, Any] = answer.json()["run"]
    return run


async def held(service: ServiceClient, customer: str, *request: str) -> tuple[str, str]:
    """Ask for an action and confirm it; return the conversation and the approval holding it."""
    conversation = await service.new_conversation(customer)
    asked: dict[str, Any] = {}
    for text in request:
        asked = await say(service, customer, conversation, text)
    run = await answer(service, customer, conversation, asked)
    assert run["status"] == "awaiting_approval", run
    assert "will review" in run["reply"]
    return conversation, run["pending_action"]["approval_id"]


async def held_cancel(service: ServiceClient, low: float, high: float) -> tuple[data.Order, str, str]:
    order = data.first_order(lambda o: o["status"] == "pending" and low < paid(o) <= high)
    conversation, approval = await held(
        service, order["user_id"], f"Please cancel {order['order_id']}, I no longer need it"
    )
    return order, conversation, approval


async def held_refund(service: ServiceClient, amount: int) -> tuple[str, str]:
    return await held(service, JAMES, f"Order #W2611340 arrived damaged, please refund ${amount}")


async def past_deadline(service: ServiceClient, approval_id: str) -> None:
    """Move an approval's deadline into the past, as if a day had gone by."""
    async with service.services.database.session() as session:
        await session.exec(
            update(Approval).where(col(Approval.id) == approval_id).values(expires_at=utcnow() - timedelta(seconds=1))
        )
        await session.commit()


async def status_of(service: ServiceClient, order_id: str) -> str:
    async with service.services.database.session(readonly=True) as session:
        return (await session.exec(select(Order.status).where(Order.order_id == order_id))).one()


async def ledger(service: ServiceClient) -> list[LedgerEntry]:
    async with service.services.database.session(readonly=True) as session:
        return list((await session.exec(select(LedgerEntry))).all())


async def replies(service: ServiceClient, conversation: str) -> list[str]:
    read = await service.http.get(f"/v1/conversations/{conversation}", headers=AGENT)
    return [m["content"] for m in read.json()["messages"] if m["role"] == "assistant"]


async def test_an_agent_approves_and_the_paused_conversation_is_answered(database_url: str) -> None:
    async with running_service(database_url) as service:
        order, conversation, approval_id = await held_cancel(service, 100, 1000)
        queue = await service.http.get("/v1/approvals?status=pending", headers=AGENT)
        [listed] = queue.json()
        assert (listed["id"], listed["tool"], listed["policy_code"]) == (
            approval_id,
            "cancel_pending_order",
            listed["policy_code"],
        )
        assert listed["amount"] == pytest.approx(paid(order)) and listed["approver_role"] == "agent"
        detail = (await service.http.get(f"/v1/approvals/{approval_id}", headers=AGENT)).json()
        assert detail["policy"]["reason"] and detail["conversation"][0]["role"] == "customer"

        decided = await service.http.post(f"/v1/approvals/{approval_id}/approve", json={"note": "ok"}, headers=AGENT)
        assert decided.status_code == 200, decided.text
        body = decided.json()
        assert body["approval"]["status"] == "executed"
        assert body["approval"]["decision"]["by"] == "agent_alice"
        assert body["approval"]["decision"]["executed_hash"] == body["approval"]["arguments_hash"]
        assert body["run"]["status"] == "completed" and body["run"]["resumed_from"]
        assert "approved" in body["run"]["reply"] and order["order_id"] in body["run"]["reply"]
        assert await status_of(service, order["order_id"]) == "cancelled"
        assert len(await ledger(service)) == 1
        assert (await replies(service, conversation))[-1] == body["run"]["reply"]

        again = await service.http.post(f"/v1/approvals/{approval_id}/approve", json={"note": ""}, headers=AGENT)
        assert again.status_code == 409 and again.json()["error"]["code"] == "approval_not_pending"


async def test_customers_cannot_use_the_approvals_api(sqlite_url: str) -> None:
    async with running_service(sqlite_url) as service:
        _, approval_id = await held_refund(service, 150)
        for request in (
            service.http.get("/v1/approvals", headers=bearer(JAMES)),
            service.http.post(f"/v1/approvals/{approval_id}/approve", json={}, headers=bearer(JAMES)),
        ):
            assert (await request).status_code == 403
        assert (await service.http.get("/v1/approvals")).status_code == 401


async def test_over_the_approvers_limit_is_403_and_a_supervisor_can_approve(sqlite_url: str) -> None:
    async with running_service(sqlite_url) as service:
        order, _, approval_id = await held_cancel(service, 1000, 5000)
        refused = await service.http.post(f"/v1/approvals/{approval_id}/approve", json={}, headers=AGENT)
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "over_approver_limit"
        assert await status_of(service, order["order_id"]) == "pending"
        approved = await service.http.post(f"/v1/approvals/{approval_id}/approve", json={}, headers=SUPERVISOR)
        assert approved.status_code == 200 and approved.json()["approval"]["status"] == "executed"
        assert await status_of(service, order["order_id"]) == "cancelled"


async def test_an_amended_refund_within_policy_runs_exactly_as_amended(sqlite_url: str) -> None:
    async with running_service(sqlite_url) as service:
        _, approval_id = await held_refund(service, 150)
        original = (await service.http.get(f"/v1/approvals/{approval_id}", headers=AGENT)).json()
        amended = {**original["arguments"], "amount": 120}
        decided = await service.http.post(
            f"/v1/approvals/{approval_id}/approve", json={"note": "partial", "arguments": amended}, headers=AGENT
        )
        assert decided.status_code == 200, decided.text
        decision = decided.json()["approval"]["decision"]
        assert decision["executed_arguments"] == amended and decision["executed_hash"] == arguments_hash(amended)
        assert decision["executed_amount"] == 120
        [entry] = await ledger(service)
        assert entry.refund_cents == 12_000 and entry.arguments["amount"] in (120, "120", "120.00", 120.0)
        assert "$120.00" in decided.json()["run"]["reply"]


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"amount": 300}, "amendment_rejected"),  # above the goodwill hard cap
        ({"amount": -5}, "amendment_rejected"),  # not a valid amount
        ({"order_id": "#W3632959"}, "amendment_rejected"),  # another order
    ],
)
async def test_an_amendment_beyond_policy_is_refused_and_nothing_runs(
    sqlite_url: str, change: dict[str, Any], code: str
) -> None:
    async with running_service(sqlite_url) as service:
        _, approval_id = await held_refund(service, 150)
        original = (await service.http.get(f"/v1/approvals/{approval_id}", headers=SUPERVISOR)).json()
        refused = await service.http.post(
            f"/v1/approvals/{approval_id}/approve",
            json={"arguments": {**original["arguments"], **change}},
            headers=SUPERVISOR,
        )
        assert refused.status_code == 422 and refused.json()["error"]["code"] == code
        assert await ledger(service) == []
        still = (await service.http.get(f"/v1/approvals/{approval_id}", headers=AGENT)).json()
        assert still["status"] == "pending"


async def test_a_rejection_reaches_the_customer_with_the_note(database_url: str) -> None:
    async with running_service(database_url) as service:
        order, conversation, approval_id = await held_cancel(service, 100, 1000)
        decided = await service.http.post(
            f"/v1/approvals/{approval_id}/reject", json={"note": "The order is already being packed"}, headers=AGENT
        )
        assert decided.status_code == 200, decided.text
        assert decided.json()["approval"]["status"] == "rejected"
        reply = decided.json()["run"]["reply"]
        assert "declined" in reply and "already being packed" in reply
        assert (await replies(service, conversation))[-1] == reply
        assert await status_of(service, order["order_id"]) == "pending" and await ledger(service) == []


async def test_an_expired_approval_cannot_be_approved_and_the_run_is_handed_off(sqlite_url: str) -> None:
    async with running_service(sqlite_url) as service:
        order, conversation, approval_id = await held_cancel(service, 100, 1000)
        await past_deadline(service, approval_id)
        late = await service.http.post(f"/v1/approvals/{approval_id}/approve", json={}, headers=AGENT)
        assert late.status_code == 409 and "expired" in late.json()["error"]["message"]
        detail = (await service.http.get(f"/v1/approvals/{approval_id}", headers=AGENT)).json()
        assert detail["status"] == "expired"
        async with service.services.database.session(readonly=True) as session:
            resumed = await session.get(Run, detail["resumed_run_id"])
        assert resumed is not None and resumed.status == "handed_off"
        assert "follow up" in (await replies(service, conversation))[-1]
        assert await status_of(service, order["order_id"]) == "pending"


async def test_a_message_while_pending_is_answered_and_never_duplicates_the_action(database_url: str) -> None:
    async with running_service(database_url) as service:
        order, conversation, approval_id = await held_cancel(service, 100, 1000)
        customer = order["user_id"]
        status = await say(service, customer, conversation, f"Where is {order['order_id']} now?")
        assert status["status"] == "completed" and "pending" in status["reply"]
        again = await say(service, customer, conversation, f"Please cancel {order['order_id']}, I no longer need it")
        assert again["status"] == "completed" and "already waiting" in again["reply"]
        async with service.services.database.session(readonly=True) as session:
            approvals = (await session.exec(select(Approval).where(col(Approval.kind) == "approval"))).all()
        assert [a.id for a in approvals] == [approval_id]
        assert await ledger(service) == []

        decided = await service.http.post(f"/v1/approvals/{approval_id}/approve", json={}, headers=AGENT)
        assert decided.status_code == 200 and len(await ledger(service)) == 1


async def test_concurrent_approvers_one_wins_and_the_action_runs_once(database_url: str) -> None:
    async with running_service(database_url) as service:
        order, _, approval_id = await held_cancel(service, 100, 1000)
        answers = await asyncio.gather(
            *(
                service.http.post(
                    f"/v1/approvals/{approval_id}/approve",
                    json={"note": f"#{i}"},
                    headers=bearer(f"agent_{i}", "agent"),
                )
                for i in range(20)
            )
        )
        codes = sorted(a.status_code for a in answers)
        assert codes == [200] + [409] * 19, [a.text for a in answers if a.status_code not in (200, 409)]
        assert len(await ledger(service)) == 1
        assert await status_of(service, order["order_id"]) == "cancelled"
        async with service.services.database.session(readonly=True) as session:
            held = await session.get(Approval, approval_id)
            assert held is not None
            resumed = (await session.exec(select(Run).where(col(Run.resumed_from) == held.run_id))).all()
        assert len(resumed) == 1


async def test_a_crash_between_approval_and_execution_is_completed_once(sqlite_url: str) -> None:
    async with running_service(sqlite_url) as service:
        order, conversation, approval_id = await held_cancel(service, 100, 1000)
        gate = service.services.gate
        real = gate.run_approved

        async def dies(*args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("the process stopped here")

        gate.run_approved = dies  # type: ignore[method-assign]
        crashed = await service.http.post(f"/v1/approvals/{approval_id}/approve", json={}, headers=AGENT)
        assert crashed.status_code == 500
        gate.run_approved = real  # type: ignore[method-assign]
        detail = (await service.http.get(f"/v1/approvals/{approval_id}", headers=AGENT)).json()
        assert detail["status"] == "approved" and await ledger(service) == []  # not within the grace period yet

        assert await service.services.desk.recover(grace=timedelta(0)) == 1
        assert await service.services.desk.recover(grace=timedelta(0)) == 0
        assert len(await ledger(service)) == 1
        assert await status_of(service, order["order_id"]) == "cancelled"
        assert "approved" in (await replies(service, conversation))[-1]


async def test_a_crash_after_execution_does_not_run_the_tool_again(sqlite_url: str) -> None:
    async with running_service(sqlite_url) as service:
        _, conversation, approval_id = await held_cancel(service, 100, 1000)
        store = service.services.approvals
        real = store.record_execution

        async def dies(*args: Any, **kwargs: Any) -> bool:
            raise RuntimeError("the process stopped after the tool ran")

        store.record_execution = dies  # type: ignore[method-assign]
        crashed = await service.http.post(f"/v1/approvals/{approval_id}/approve", json={}, headers=AGENT)
        assert crashed.status_code == 500 and len(await ledger(service)) == 1
        store.record_execution = real  # type: ignore[method-assign]

        assert await service.services.desk.recover(grace=timedelta(0)) == 1
        assert len(await ledger(service)) == 1  # replayed from the ledger, not run again
        detail = (await service.http.get(f"/v1/approvals/{approval_id}", headers=AGENT)).json()
        assert detail["status"] == "executed" and detail["resumed_run_id"]
        assert "approved" in (await replies(service, conversation))[-1]


async def test_the_queue_filters_and_pages(sqlite_url: str) -> None:
    async with running_service(sqlite_url) as service:
        ids = []
        for amount in (150, 160, 170):
            ids.append((await held_refund(service, amount))[1])
        first = await service.http.get("/v1/approvals?status=pending&limit=2", headers=AGENT)
        assert [a["id"] for a in first.json()] == ids[:2]
        rest = await service.http.get(
            f"/v1/approvals?status=pending&limit=2&cursor={first.headers['Next-Cursor']}", headers=AGENT
        )
        assert [a["id"] for a in rest.json()] == ids[2:] and "Next-Cursor" not in rest.headers
        mine = await service.http.get(f"/v1/approvals?customer_id={JAMES}", headers=AGENT)
        assert len(mine.json()) == 3
        other = await service.http.get("/v1/approvals?customer_id=nobody", headers=AGENT)
        assert other.json() == []
        old = await service.http.get("/v1/approvals?older_than_minutes=60", headers=AGENT)
        assert old.json() == []
        bad = await service.http.get("/v1/approvals?status=maybe", headers=AGENT)
        assert bad.status_code == 422
