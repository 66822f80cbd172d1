"""A run that answers a decision (the customer's Confirm, a team member's approval) or recovers one whose process
died holds its conversation exactly like a run answering a new message: a message sent meanwhile gets 409
`conversation_busy`, whichever server process it reaches, and the replies stay in the order the runs started. Two
server processes on one database, on SQLite and on PostgreSQL.

"The model" is the fake Messages API behind the real SDK. The answer to the decision is held (the fake's thread
waits for the test) until the test has sent its message, so the message always lands while that run answers.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from testkit import fixture_data as data
from testkit.fakes import anthropic_api as fake
from testkit.server import ServerProcess
from testkit.service import bearer
from tests.api.test_crash_recovery import paid, server, until

pytestmark = pytest.mark.slow

AGENT = bearer("agent_alice", role="agent")
REFUND_OWNER = "james_li_5688"
REFUND = {"order_id": "#W2611340", "amount": 150, "reason": "arrived damaged"}  # over the $25 auto tier


class Gate:
    """Holds one scripted answer until the test opens it (`open`): the fake's thread waits, so the run that asked
    is still waiting on its model call."""

    def __init__(self) -> None:
        self.opened = threading.Event()

    def holding(self, answer: fake.Answer) -> Callable[[dict[str, Any]], fake.Answer]:
        def held(_: dict[str, Any]) -> fake.Answer:
            assert self.opened.wait(60), "the test never opened the gate"
            return answer

        return held

    def open(self) -> None:
        self.opened.set()


async def say(client: httpx.AsyncClient, base: str, customer: str, conversation: str, text: str) -> httpx.Response:
    return await client.post(
        f"{base}/v1/conversations/{conversation}/messages", json={"content": text}, headers=bearer(customer)
    )


async def busy_meanwhile(
    client: httpx.AsyncClient, other: str, customer: str, conversation: str, api: fake.FakeMessagesAPI, count: int
) -> None:
    """Once the held model call has arrived (`count` requests in all), a message to the other process is 409."""
    await asyncio.to_thread(api.wait_for_requests, count, 60)
    refused = await say(client, other, customer, conversation, "Hello? Anyone there?")
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["code"] == "conversation_busy"
    assert int(refused.headers["Retry-After"]) > 0


async def conversation_of(client: httpx.AsyncClient, base: str, conversation: str) -> list[tuple[str, str]]:
    read = await client.get(f"{base}/v1/conversations/{conversation}", headers=AGENT)
    return [(m["role"], m["content"]) for m in read.json()["messages"]]


def said_now(base: str, conversation: str) -> list[tuple[str, str]]:
    read = httpx.get(f"{base}/v1/conversations/{conversation}", headers=AGENT, timeout=30)
    return [(m["role"], m["content"]) for m in read.json()["messages"]]


async def test_a_message_while_a_confirmed_or_approved_run_answers_is_409_on_every_process(
    database_url: str, tmp_path: Path, servers: list[ServerProcess]
) -> None:
    order = data.first_order(lambda o: o["status"] == "pending" and paid(o) <= 100)
    owner = str(order["user_id"])
    confirmed_gate, approved_gate = Gate(), Gate()
    with fake.FakeMessagesAPI() as api:
        api.add(
            fake.call("cancel_pending_order", {"order_id": order["order_id"], "reason": "no longer needed"}),
            confirmed_gate.holding(fake.say("Your order is cancelled.")),
            fake.say("You're welcome."),
            fake.call("issue_refund", REFUND),
            approved_gate.holding(fake.say("Your refund of $150.00 is on its way.")),
            fake.say("Glad to help."),
        )
        first, second = (server(database_url, tmp_path / f"server-{n}.log", api) for n in (1, 2))
        servers.extend([first.start(), second.start()])
        async with httpx.AsyncClient(timeout=120) as client:
            # The customer confirms on one process; while that run answers, a message reaches the other.
            cancel = (await client.post(f"{first.url}/v1/conversations", headers=bearer(owner))).json()["id"]
            asked = (await say(client, first.url, owner, cancel, "Cancel it please")).json()["run"]
            confirmation = asked["pending_confirmation"]["id"]
            confirming = asyncio.create_task(
                client.post(
                    f"{first.url}/v1/conversations/{cancel}/confirmations/{confirmation}",
                    json={"decision": "confirm"},
                    headers=bearer(owner),
                )
            )
            await busy_meanwhile(client, second.url, owner, cancel, api, 2)
            confirmed_gate.open()
            answered = await confirming
            assert answered.status_code == 200 and answered.json()["run"]["reply"] == "Your order is cancelled."
            assert (await say(client, second.url, owner, cancel, "Thanks!")).status_code == 200
            assert await conversation_of(client, second.url, cancel) == [
                ("customer", "Cancel it please"),
                ("assistant", asked["reply"]),
                ("assistant", "Your order is cancelled."),
                ("customer", "Thanks!"),
                ("assistant", "You're welcome."),
            ]

            # A team member approves on one process; while that run answers, a message reaches the other.
            refund = (await client.post(f"{first.url}/v1/conversations", headers=bearer(REFUND_OWNER))).json()["id"]
            asked = (await say(client, second.url, REFUND_OWNER, refund, "Refund please")).json()["run"]
            confirmed = await client.post(
                f"{second.url}/v1/conversations/{refund}/confirmations/{asked['pending_confirmation']['id']}",
                json={"decision": "confirm"},
                headers=bearer(REFUND_OWNER),
            )
            held = confirmed.json()["run"]
            assert held["status"] == "awaiting_approval", held
            approving = asyncio.create_task(
                client.post(
                    f"{first.url}/v1/approvals/{held['pending_action']['approval_id']}/approve",
                    json={"note": "ok"},
                    headers=AGENT,
                )
            )
            await busy_meanwhile(client, second.url, REFUND_OWNER, refund, api, 5)
            approved_gate.open()
            decided = await approving
            assert decided.status_code == 200, decided.text
            assert decided.json()["run"]["reply"] == "Your refund of $150.00 is on its way."
            assert (await say(client, second.url, REFUND_OWNER, refund, "Great")).status_code == 200
            said = await conversation_of(client, first.url, refund)
            assert said[-3:] == [
                ("assistant", "Your refund of $150.00 is on its way."),
                ("customer", "Great"),
                ("assistant", "Glad to help."),
            ]
        api.assert_done()


async def test_a_run_recovering_a_decision_holds_the_conversation_too(
    database_url: str, tmp_path: Path, servers: list[ServerProcess]
) -> None:
    order = data.first_order(lambda o: o["status"] == "pending" and paid(o) <= 100)
    owner = str(order["user_id"])
    recovered_gate = Gate()
    with fake.FakeMessagesAPI() as api:
        api.add(
            fake.call("cancel_pending_order", {"order_id": order["order_id"], "reason": "no longer needed"}),
            fake.say("(never sent: this process is killed first)", delay_s=float("inf")),
            recovered_gate.holding(fake.say("Your order is cancelled.")),
            fake.say("You're welcome."),
        )
        first = server(database_url, tmp_path / "first.log", api)
        servers.append(first.start())
        async with httpx.AsyncClient(timeout=120) as client:
            conversation = (await client.post(f"{first.url}/v1/conversations", headers=bearer(owner))).json()["id"]
            asked = (await say(client, first.url, owner, conversation, "Cancel it please")).json()["run"]
            confirmation = asked["pending_confirmation"]["id"]
            confirming = asyncio.create_task(
                client.post(
                    f"{first.url}/v1/conversations/{conversation}/confirmations/{confirmation}",
                    json={"decision": "confirm"},
                    headers=bearer(owner),
                )
            )
            await asyncio.to_thread(api.wait_for_requests, 2, 60)
            first.kill()  # while the run answering the Confirm waits on the model
            with pytest.raises(httpx.TransportError):
                await confirming

            second = server(database_url, tmp_path / "second.log", api)
            servers.append(second.start())  # it recovers the dead run at start-up
            await busy_meanwhile(client, second.url, owner, conversation, api, 3)
            recovered_gate.open()
            await asyncio.to_thread(
                until,
                lambda: ("assistant", "Your order is cancelled.") in said_now(second.url, conversation),
                30,
                "the recovered run to answer",
            )
            assert (await say(client, second.url, owner, conversation, "Thanks!")).status_code == 200
            said = await conversation_of(client, second.url, conversation)
        assert said == [
            ("customer", "Cancel it please"),
            ("assistant", asked["reply"]),
            ("assistant", "Your order is cancelled."),
            ("customer", "Thanks!"),
            ("assistant", "You're welcome."),
        ]
        api.assert_done()
