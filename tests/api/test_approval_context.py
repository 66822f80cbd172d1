"""What an approver is shown and may do: the order and refund context, "what I may decide", a note on every
rejection, amendments refused with the wrong field named, and expiry by the background sweep."""

from __future__ import annotations

from testkit.service import running_service
from tests.api.test_approvals import AGENT, JAMES, SUPERVISOR, held_cancel, held_refund, past_deadline


async def test_the_approval_read_carries_the_context_to_decide(sqlite_url: str) -> None:
    async with running_service(sqlite_url) as service:
        _, first = await held_refund(service, 150)
        rejected = await service.http.post(
            f"/v1/approvals/{first}/reject", json={"note": "Photos do not show damage"}, headers=AGENT
        )
        assert rejected.status_code == 200, rejected.text
        _, second = await held_refund(service, 120)

        read = await service.http.get(f"/v1/approvals/{second}", headers=AGENT)
        assert read.status_code == 200, read.text
        context = read.json()["context"]
        order = context["order"]
        assert order["order_id"] == "#W2611340"
        assert order["status"] == "processed"
        assert order["items"] and all({"item_id", "name", "price"} <= set(i) for i in order["items"])
        assert order["totals"]["paid"] == sum(
            p["amount"] for p in order["payment_history"] if p["transaction_type"] == "payment"
        )
        assert context["refund_window"]["days"] == 30
        assert context["refund_window"]["limit"] == 2000.0
        assert context["refund_window"]["this_action"] == 120.0
        assert context["refund_window"]["after"] == context["refund_window"]["refunded"] + 120.0
        assert [(a["id"], a["status"], a["note"]) for a in context["earlier_approvals"]] == [
            (first, "rejected", "Photos do not show damage")
        ]
        assert context["tier_needed"] == "agent"
        assert context["may_decide"] == ["agent", "supervisor"]
        assert 23 * 3600 < context["time_left_s"] <= 24 * 3600
        assert read.json()["policy"]["reason"]


async def test_what_i_may_decide_keeps_items_within_my_tier(database_url: str) -> None:
    async with running_service(database_url) as service:
        _, agent_item = await held_refund(service, 150)
        _, _, supervisor_item = await held_cancel(service, 1000, 5000)

        everything = await service.http.get("/v1/approvals?status=pending", headers=AGENT)
        assert {a["id"] for a in everything.json()} == {agent_item, supervisor_item}
        mine = await service.http.get("/v1/approvals?status=pending&decidable=true", headers=AGENT)
        assert [a["id"] for a in mine.json()] == [agent_item]
        theirs = await service.http.get("/v1/approvals?status=pending&decidable=true", headers=SUPERVISOR)
        assert [a["id"] for a in theirs.json()] == [agent_item, supervisor_item]

        over = await service.http.get(f"/v1/approvals/{supervisor_item}", headers=AGENT)
        assert over.json()["context"]["may_decide"] == ["supervisor"]


async def test_a_rejection_needs_a_note(sqlite_url: str) -> None:
    async with running_service(sqlite_url) as service:
        _, approval_id = await held_refund(service, 150)
        for body in ({}, {"note": ""}, {"note": "   "}):
            refused = await service.http.post(f"/v1/approvals/{approval_id}/reject", json=body, headers=AGENT)
            assert refused.status_code == 422, body
            assert "note" in refused.json()["error"]["message"]
        still = await service.http.get(f"/v1/approvals/{approval_id}", headers=AGENT)
        assert still.json()["status"] == "pending"


async def test_a_refused_amendment_names_the_wrong_field(sqlite_url: str) -> None:
    async with running_service(sqlite_url) as service:
        _, approval_id = await held_refund(service, 150)
        original = (await service.http.get(f"/v1/approvals/{approval_id}", headers=AGENT)).json()["arguments"]
        path = f"/v1/approvals/{approval_id}/approve"

        malformed = await service.http.post(
            path, json={"note": "", "arguments": {**original, "amount": "lots"}}, headers=AGENT
        )
        assert malformed.status_code == 422
        assert malformed.json()["error"]["field"] == "amount"

        moved = await service.http.post(
            path, json={"note": "", "arguments": {**original, "order_id": "#W0000000"}}, headers=AGENT
        )
        assert moved.status_code == 422 and moved.json()["error"]["field"] == "order_id"

        refused = await service.http.post(
            path, json={"note": "", "arguments": {**original, "amount": 900}}, headers=AGENT
        )
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"]["field"] == "amount"
        assert refused.json()["error"]["message"].startswith("amount:")
        still = await service.http.get(f"/v1/approvals/{approval_id}", headers=AGENT)
        assert still.json()["status"] == "pending"


async def test_the_background_sweep_expires_approvals_nobody_reads(database_url: str) -> None:
    async with running_service(database_url, SUPPORT_APPROVAL_SWEEP_S=0.05) as service:
        conversation, approval_id = await held_refund(service, 150)
        await past_deadline(service, approval_id)
        await service.services.sweeper.full_pass()

        # Looked at only now, behind the API: the sweep already expired it and queued the conversation.
        approval = await service.services.approvals.get(approval_id)
        assert approval.status == "expired"
        assert approval.resumed_run_id is not None
        queue = await service.http.get("/v1/handoffs", headers=AGENT)
        assert [(h["conversation_id"], h["reason"], h["customer_id"]) for h in queue.json()] == [
            (conversation, "approval_expired", JAMES)
        ]
