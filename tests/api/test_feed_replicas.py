"""The conversation feed across replicas: two real server processes on one PostgreSQL database. Events written
by one process reach a client connected to the other, and a client that reconnects to the other process with
`Last-Event-ID` gets the rest, with no gap and no duplicate."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from testkit.databases import drop_postgres, postgres_copy, postgres_url
from testkit.http_server import FeedEvent, sse_events
from testkit.server import ServerProcess
from testkit.service import bearer
from tests.api.test_feed import CANCEL, OWNER, named, until

pytestmark = pytest.mark.slow

JAMES = "james_li_5688"
AGENT = bearer("agent_alice", role="agent")


@pytest.fixture
def two_replicas(
    postgres_template: str, tmp_path: Path, servers: list[ServerProcess]
) -> Iterator[tuple[ServerProcess, ServerProcess, str]]:
    name = postgres_copy(postgres_template)
    url = postgres_url(name)
    a, b = ServerProcess(url, tmp_path / "a.log"), ServerProcess(url, tmp_path / "b.log")
    servers.extend([a, b])
    a.start(), b.start()
    yield a, b, url
    a.stop(), b.stop()  # before their database goes
    drop_postgres(name)


@asynccontextmanager
async def feed_at(
    server: ServerProcess, customer: str, conversation: str, last_event_id: int | None = None
) -> AsyncIterator[AsyncIterator[FeedEvent]]:
    headers = bearer(customer) | ({"Last-Event-ID": str(last_event_id)} if last_event_id is not None else {})
    async with (
        httpx.AsyncClient(base_url=server.url, timeout=30) as client,
        client.stream("GET", f"/v1/conversations/{conversation}/events", headers=headers) as response,
    ):
        assert response.status_code == 200
        yield sse_events(response)


async def say_at(server: ServerProcess, customer: str, conversation: str, text: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
        sent = await client.post(
            f"/v1/conversations/{conversation}/messages", json={"content": text}, headers=bearer(customer)
        )
    assert sent.status_code == 200, sent.text
    run: dict[str, Any] = sent.json()["run"]
    return run


async def new_conversation(server: ServerProcess, customer: str) -> str:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        return str((await client.post("/v1/conversations", headers=bearer(customer))).json()["id"])


def table_ids(url: str, conversation: str) -> list[int]:
    with psycopg.connect(url) as connection:
        rows = connection.execute(
            "SELECT id FROM conversation_events WHERE conversation_id = %s ORDER BY id", [conversation]
        ).fetchall()
    return [row[0] for row in rows]


async def test_reconnecting_to_the_other_replica_resumes_with_no_gap_and_no_duplicate(
    two_replicas: tuple[ServerProcess, ServerProcess, str],
) -> None:
    a, b, url = two_replicas
    conversation = await new_conversation(a, JAMES)
    async with feed_at(a, JAMES, conversation) as events:
        await say_at(b, JAMES, conversation, "Where is my order #W2611340?")  # written by B, read by A
        first = await until(events, named("run.completed"))
        await say_at(b, JAMES, conversation, "And where is #W2611340 now?")
        first += await until(events, named("run.started"))  # part of the second turn, then the line drops
    await say_at(a, JAMES, conversation, "What is in my profile?")  # while disconnected
    assert first[-1].id is not None
    async with feed_at(b, JAMES, conversation, last_event_id=first[-1].id) as events:
        rest = await until(events, named("run.completed"))
        rest += await until(events, named("run.completed"))
    received = [e.id for e in first + rest]
    assert received == table_ids(url, conversation)
    assert len(set(received)) == len(received)
    assert [e.event for e in rest].count("message.created") == 3  # the 2nd reply, the 3rd question and answer


async def test_an_approval_decided_on_one_replica_reaches_a_feed_open_on_the_other(
    two_replicas: tuple[ServerProcess, ServerProcess, str],
) -> None:
    a, b, url = two_replicas
    conversation = await new_conversation(a, OWNER)
    asked = await say_at(a, OWNER, conversation, CANCEL)
    async with httpx.AsyncClient(base_url=a.url, timeout=60) as client:
        confirmed = await client.post(
            f"/v1/conversations/{conversation}/confirmations/{asked['pending_confirmation']['id']}",
            json={"decision": "confirm"},
            headers=bearer(OWNER),
        )
    held = confirmed.json()["run"]
    assert held["status"] == "awaiting_approval", held
    approval_id = held["pending_action"]["approval_id"]
    async with feed_at(a, OWNER, conversation) as events:
        so_far = await until(events, named("run.completed", run_id=held["id"]))
        async with httpx.AsyncClient(base_url=b.url, timeout=60) as client:
            approved = await client.post(f"/v1/approvals/{approval_id}/approve", json={"note": "fine"}, headers=AGENT)
        assert approved.status_code == 200, approved.text
        answered = await until(events, named("run.completed"))
    opened = [e.data for e in so_far if e.event == "approval.required"]
    assert [(o["approval_id"], o["tool"], o["approver_role"]) for o in opened] == [
        (approval_id, "cancel_pending_order", "agent")
    ]
    decided = answered[0]
    assert (decided.event, decided.data["approval_id"], decided.data["decision"], decided.data["note"]) == (
        "approval.decided",
        approval_id,
        "approved",
        "fine",
    )
    reply = approved.json()["run"]["reply"]
    assert [e.data["message"]["content"] for e in answered if e.event == "message.created"] == [reply]
    assert answered[-1].data["run"]["id"] == approved.json()["run"]["id"]
    assert [e.id for e in so_far + answered] == table_ids(url, conversation)
