"""A turn streamed as Server-Sent Events over a real HTTP connection, and a client that goes away mid-turn."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from sqlmodel import select

from agent.conversations.tables import ChatMessage, ConversationEvent, Run
from agent.models.base import ModelRequest, ModelResponse, TextSink
from agent.models.scripted import say
from api.app import create_app
from api.schemas import PendingConfirmationOut
from testkit import fixture_data as data
from testkit.http_server import parse_sse, parse_sse_ids, served
from testkit.service import bearer, service_settings

JAMES = "james_li_5688"
STREAM = {"Accept": "text/event-stream"}


async def stream_turn(
    client: httpx.AsyncClient, conversation: str, text: str, customer: str = JAMES
) -> list[tuple[str, dict[str, Any]]]:
    async with client.stream(
        "POST",
        f"/v1/conversations/{conversation}/messages",
        json={"content": text},
        headers={**bearer(customer), **STREAM},
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = [line async for line in response.aiter_lines()]
    return parse_sse(lines)


async def new_conversation(client: httpx.AsyncClient, customer: str = JAMES) -> str:
    return str((await client.post("/v1/conversations", headers=bearer(customer))).json()["id"])


async def test_events_arrive_in_order_and_the_deltas_make_the_reply(sqlite_url: str) -> None:
    app = create_app(service_settings(sqlite_url))
    async with served(app) as url, httpx.AsyncClient(base_url=url, timeout=30) as client:
        conversation = await new_conversation(client)
        events = await stream_turn(client, conversation, "Where is my order #W2611340?")
    names = [name for name, _ in events]
    assert names[:2] == ["message.created", "run.started"] and names[-1] == "run.completed"
    assert names.index("tool.started") < names.index("tool.finished") < names.index("message.delta")
    finished = dict(events)["tool.finished"]
    assert (finished["tool"], finished["outcome"], finished["ok"]) == ("get_order_details", "allow", True)
    assert finished["label"] == "Looking up your order" and finished["conversation_id"] == conversation
    reply = events[-1][1]["run"]["reply"]
    assert "".join(d["text"] for name, d in events if name == "message.delta") == reply
    assert "357962501027" in reply
    written = [d["message"] for name, d in events if name == "message.created"]
    assert [(m["role"], m["content"]) for m in written] == [
        ("customer", "Where is my order #W2611340?"),
        ("assistant", reply),
    ]


async def test_stored_events_carry_their_feed_ids_and_live_ones_none(sqlite_url: str) -> None:
    app = create_app(service_settings(sqlite_url))
    async with served(app) as url, httpx.AsyncClient(base_url=url, timeout=30) as client:
        conversation = await new_conversation(client)
        async with client.stream(
            "POST",
            f"/v1/conversations/{conversation}/messages",
            json={"content": "Where is my order #W2611340?"},
            headers={**bearer(JAMES), **STREAM},
        ) as response:
            streamed = parse_sse_ids([line async for line in response.aiter_lines()])
        async with app.state.services.database.session(readonly=True) as session:
            table = (await session.exec(select(ConversationEvent).order_by(ConversationEvent.id))).all()  # type: ignore[arg-type]
    with_ids = [(ident, name) for ident, name, _ in streamed if ident is not None]
    assert with_ids == [(row.id, row.kind) for row in table if row.kind != "tool.finished"]
    assert {name for ident, name, _ in streamed if ident is None} == {"message.delta", "tool.started", "tool.finished"}
    stored = {row.id: row.data for row in table}
    for ident, name, body in streamed:
        if ident is not None:  # the feed's data; run.completed adds the customer's message, as the JSON answer does
            assert body == stored[ident] | ({"message": body["message"]} if name == "run.completed" else {})


async def test_a_write_streams_confirmation_required(sqlite_url: str) -> None:
    order = data.first_order(
        lambda o: o["status"] == "pending" and 100 < sum(t["amount"] for t in o["payment_history"]) <= 1000
    )
    customer = order["user_id"]
    app = create_app(service_settings(sqlite_url))
    async with served(app) as url, httpx.AsyncClient(base_url=url, timeout=30) as client:
        conversation = await new_conversation(client, customer)
        events = await stream_turn(client, conversation, f"Cancel {order['order_id']}, I no longer need it", customer)
    names = [name for name, _ in events]
    required = dict(events)["confirmation.required"]
    assert required["tool"] == "cancel_pending_order" and order["order_id"] in required["summary"]
    final = events[-1][1]["run"]
    assert final["status"] == "awaiting_confirmation"
    # The streamed card is the declared shape, and the same card the JSON answer carries.
    assert PendingConfirmationOut.model_validate(required) == PendingConfirmationOut.model_validate(
        final["pending_confirmation"]
    )
    assert names.index("confirmation.required") < names.index("run.completed")


class GatedModel:
    """Answers only when the test opens the gate, so the client can leave while the run is in the model."""

    provider = "gated"
    name = "gated-1"

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.gate = asyncio.Event()

    async def complete(self, request: ModelRequest, *, on_text: TextSink | None = None) -> ModelResponse:
        self.entered.set()
        await self.gate.wait()
        return say("Thanks for waiting: here is your answer.")


async def test_the_run_completes_and_is_stored_when_the_client_disconnects(sqlite_url: str) -> None:
    model = GatedModel()
    app = create_app(service_settings(sqlite_url), model=model)
    async with served(app) as url, httpx.AsyncClient(base_url=url, timeout=30) as client:
        conversation = await new_conversation(client)
        async with client.stream(
            "POST",
            f"/v1/conversations/{conversation}/messages",
            json={"content": "hello?"},
            headers={**bearer(JAMES), **STREAM},
        ) as response:
            async for line in response.aiter_lines():
                if line.startswith("event: run.started"):
                    break
            await model.entered.wait()
        # The client has gone. Let the model answer, and wait for the service's own tasks.
        model.gate.set()
        services = app.state.services
        await services.idle()
        async with services.database.session(readonly=True) as session:
            run = (await session.exec(select(Run))).one()
            messages = (await session.exec(select(ChatMessage).order_by(ChatMessage.id))).all()  # type: ignore[arg-type]
    assert run.status == "completed"
    assert [(m.role, m.content) for m in messages] == [
        ("customer", "hello?"),
        ("assistant", "Thanks for waiting: here is your answer."),
    ]
