"""The desk's forms take nothing the API would refuse: amounts as plain decimals only, bounded storable notes,
bounded storable replies, and ids of a shape that can name something. Each refusal is a page with the field
named, never a 500, and nothing is decided or stored; on both databases (PostgreSQL is the one that refuses a
NUL)."""

from __future__ import annotations

import pytest
from sqlmodel import col, select

from agent.conversations.tables import Approval, ChatMessage
from agent.held.handoffs import HandoffFilter
from testkit.desk import DeskUser, sign_in
from testkit.service import ServiceClient, running_service
from tests.api.test_approvals import held

JAMES = "james_li_5688"
DAMAGED = "Order #W2611340 arrived damaged, please refund $150"


async def post(service: ServiceClient, user: DeskUser, path: str, **form: str) -> tuple[int, str]:
    answer = await service.http.post(path, data={"csrf": user.csrf, **form}, headers=user.headers)
    return answer.status_code, answer.text


async def approval_status(service: ServiceClient, approval_id: str) -> str:
    async with service.services.database.session(readonly=True) as session:
        found = await session.get(Approval, approval_id)
    assert found is not None
    return found.status


@pytest.mark.parametrize(
    "amount", ["sNaN", "NaN", "Infinity", "１２０", "1_2_0", "1e2", "12 0", "-120", "0", "1,2,0", "٣"]
)
async def test_an_amount_the_api_would_refuse_is_refused_on_the_form(database_url: str, amount: str) -> None:
    async with running_service(database_url) as service:
        _, approval_id = await held(service, JAMES, DAMAGED)
        alice = await sign_in(service.http, "agent_alice", "agent")
        status, page = await post(
            service, alice, f"/desk/approvals/{approval_id}/approve", amount=amount, note="partial"
        )
        assert status == 422, page
        assert 'name="amount" value=' in page and 'aria-invalid="true"' in page
        assert await approval_status(service, approval_id) == "pending"


async def test_an_amount_written_as_dollars_is_read_as_dollars(sqlite_url: str) -> None:
    async with running_service(sqlite_url) as service:
        _, approval_id = await held(service, JAMES, DAMAGED)
        alice = await sign_in(service.http, "agent_alice", "agent")
        status, _ = await post(service, alice, f"/desk/approvals/{approval_id}/approve", amount=" $120.00 ")
        assert status == 303
        async with service.services.database.session(readonly=True) as session:
            decided = await session.get(Approval, approval_id)
        assert decided is not None and decided.executed_arguments is not None
        assert (decided.status, decided.executed_arguments["amount"]) == ("executed", 120.0)


@pytest.mark.parametrize(("note", "why"), [("verified\x00by phone", "NUL"), ("x" * 50_000, "at most 2000")])
async def test_a_note_the_api_would_refuse_is_refused_on_both_forms(database_url: str, note: str, why: str) -> None:
    async with running_service(database_url) as service:
        _, approval_id = await held(service, JAMES, DAMAGED)
        alice = await sign_in(service.http, "agent_alice", "agent")
        for action in ("approve", "reject"):
            status, page = await post(service, alice, f"/desk/approvals/{approval_id}/{action}", note=note)
            assert status == 422, (action, page[:300])
            assert why in page
        assert await approval_status(service, approval_id) == "pending"


async def test_a_reply_the_api_would_refuse_is_refused_on_the_form(database_url: str) -> None:
    async with running_service(database_url) as service:
        conversation = await service.new_conversation(JAMES)
        handed = await service.say(JAMES, conversation, "Can I talk to a human please?")
        assert handed.json()["run"]["status"] == "handed_off"
        alice = await sign_in(service.http, "agent_alice", "agent")
        (handoff,) = await service.services.handoffs.find(HandoffFilter(status="open"))
        handoff_id = handoff.id
        status, _ = await post(service, alice, f"/desk/handoffs/{handoff_id}/claim")
        assert status == 303
        for content, expected in (("a" * 100_000, 413), ("hello\x00there", 422), ("   ", 422)):
            status, page = await post(service, alice, f"/desk/handoffs/{handoff_id}/reply", content=content)
            assert status == expected, page[:300]
        async with service.services.database.session(readonly=True) as session:
            written = (await session.exec(select(ChatMessage).where(col(ChatMessage.role) == "agent"))).all()
        assert list(written) == []
        status, _ = await post(service, alice, f"/desk/handoffs/{handoff_id}/reply", content="Hello, I'm Alice.")
        assert status == 303


@pytest.mark.parametrize("odd", ["%00", "appr%00x", "x" * 300, "appr%0A"])
async def test_a_desk_path_id_that_cannot_name_anything_is_404(database_url: str, odd: str) -> None:
    async with running_service(database_url) as service:
        alice = await sign_in(service.http, "agent_alice", "agent")
        for path in (f"/desk/approvals/{odd}", f"/desk/handoffs/{odd}", f"/desk/conversations/{odd}"):
            page = await service.http.get(path, headers=alice.headers)
            assert page.status_code == 404, (path, page.text[:200])
        for path in (f"/desk/approvals/{odd}/approve", f"/desk/handoffs/{odd}/claim"):
            status, _ = await post(service, alice, path)
            assert status == 404, path
