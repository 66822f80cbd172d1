"""Money tiers count over time: a cap split into small pieces still reaches a person.

Goodwill refunds run at once up to $25, need an agent up to $200 (the policy file): six refunds of $25 on one
order are one automatic refund and then, once the order's sum passes $25, refunds an agent decides; the sum
passing $200 needs a supervisor; refunds on several orders meet the customer's own total. Refunds outside the
window do not count. Each decision records the sum it compared. On both databases.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlmodel import col, select

from agent.models.scripted import ScriptedModel, call, say
from basics.clock import utcnow
from basics.database import Database
from policies.audit import PolicyDecisionRecord
from testkit.ledger import add_history
from testkit.service import ServiceClient, bearer, running_service
from tools.store.tables import LedgerEntry

JAMES = "james_li_5688"  # four orders with room for refunds: #W2611340 first
ORDER = "#W2611340"
AGENT = bearer("agent_alice", role="agent")
SUPERVISOR = bearer("supervisor_sam", role="supervisor")


def refunds(*orders: str, held_after: int = 0) -> ScriptedModel:
    """A model that asks for a $25 goodwill refund on each order in turn (each with its own reason, so none is a
    duplicate of one still waiting), and answers in words after each of the first `held_after` (the ones that
    run; a held one ends its turn waiting)."""
    steps = []
    for n, order in enumerate(orders):
        steps.append(call("issue_refund", {"order_id": order, "amount": 25, "reason": f"late delivery {n}"}))
        if n < held_after:
            steps.append(say("Ok."))
    return ScriptedModel(steps)


async def ask(service: ServiceClient, conversation: str) -> dict[str, Any]:
    answer = await service.say(JAMES, conversation, "a goodwill refund please")
    assert answer.status_code == 200, answer.text
    run: dict[str, Any] = answer.json()["run"]
    return run


async def decisions(database: Database) -> list[tuple[str, str, int | None]]:
    async with database.session(readonly=True) as session:
        rows = await session.exec(
            select(PolicyDecisionRecord.outcome, PolicyDecisionRecord.rule, PolicyDecisionRecord.tier_sum_cents)
            .where(
                col(PolicyDecisionRecord.tool) == "issue_refund", col(PolicyDecisionRecord.principal_role) == "customer"
            )
            .order_by(col(PolicyDecisionRecord.id))
        )
        return [(outcome, rule, tier_sum) for outcome, rule, tier_sum in rows.all()]


async def refunded(database: Database) -> int:
    async with database.session(readonly=True) as session:
        return sum((await session.exec(select(LedgerEntry.refund_cents))).all())


async def test_six_refunds_of_25_on_one_order_are_one_automatic_and_then_a_persons(
    database_url: str, no_confirmations: str
) -> None:
    model = refunds(*[ORDER] * 6, held_after=1)
    async with running_service(database_url, model, SUPPORT_POLICY_FILE=no_confirmations) as service:
        conversation = await service.new_conversation(JAMES)
        first = await ask(service, conversation)
        assert first["status"] == "completed"
        held = [await ask(service, conversation) for _ in range(5)]
        assert [r["status"] for r in held] == ["awaiting_approval"] * 5
        assert {r["pending_action"]["approver_role"] for r in held} == {"agent"}
        assert await refunded(service.services.database) == 2_500
        seen = await decisions(service.services.database)
        assert (
            seen == [("allow", "write.auto", 2_500)] + [("needs_approval", "money.issue_refund.agent_tier", 5_000)] * 5
        )
        detail = await service.http.get(f"/v1/approvals/{held[0]['pending_action']['approval_id']}", headers=AGENT)
        assert detail.json()["reason"] == (
            f"$25.00 with $25.00 received on {ORDER} in 30 days makes $50.00, "
            "which is above the automatic limit of $25.00"
        )
        assert detail.json()["context"]["tier_window"] == {
            "tier": "issue_refund",
            "days": 30,
            "on_order": 25.0,
            "in_total": 25.0,
            "this_action": 25.0,
            "after_on_order": 50.0,
        }
    model.assert_done()


async def test_the_sum_past_the_agent_tier_needs_a_supervisor(database_url: str, no_confirmations: str) -> None:
    model = refunds(ORDER)
    model.add(say("Your refund is on its way."))
    async with running_service(database_url, model, SUPPORT_POLICY_FILE=no_confirmations) as service:
        await add_history(
            service.services.database, JAMES, utcnow() - timedelta(days=3), 18_000, tool="issue_refund", order_id=ORDER
        )
        run = await ask(service, await service.new_conversation(JAMES))
        assert (run["status"], run["pending_action"]["approver_role"]) == ("awaiting_approval", "supervisor")
        approval_id = run["pending_action"]["approval_id"]
        as_agent = await service.http.post(f"/v1/approvals/{approval_id}/approve", json={}, headers=AGENT)
        assert as_agent.status_code == 403
        as_supervisor = await service.http.post(f"/v1/approvals/{approval_id}/approve", json={}, headers=SUPERVISOR)
        assert as_supervisor.status_code == 200, as_supervisor.text
        assert as_supervisor.json()["approval"]["status"] == "executed"
        assert (await decisions(service.services.database))[0] == (
            "needs_approval",
            "money.issue_refund.supervisor_tier",
            20_500,
        )


async def test_refunds_split_over_orders_meet_the_customers_total(database_url: str, no_confirmations: str) -> None:
    model = refunds("#W2611340", "#W3632959", "#W4435622", held_after=2)
    async with running_service(database_url, model, SUPPORT_POLICY_FILE=no_confirmations) as service:
        conversation = await service.new_conversation(JAMES)
        statuses = [(await ask(service, conversation))["status"] for _ in range(3)]
        assert statuses == ["completed", "completed", "awaiting_approval"]  # $75 in all passes the $50 total
        assert (await decisions(service.services.database))[-1] == (
            "needs_approval",
            "money.issue_refund.customer_agent_tier",
            7_500,
        )


async def test_refunds_outside_the_window_do_not_count(database_url: str, no_confirmations: str) -> None:
    model = refunds(ORDER, held_after=1)
    async with running_service(database_url, model, SUPPORT_POLICY_FILE=no_confirmations) as service:
        database = service.services.database
        await add_history(database, JAMES, utcnow() - timedelta(days=31), 15_000, tool="issue_refund", order_id=ORDER)
        run = await ask(service, await service.new_conversation(JAMES))
        assert run["status"] == "completed"
        assert (await decisions(database)) == [("allow", "write.auto", 2_500)]
