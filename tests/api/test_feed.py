"""The conversation feed, over a real HTTP connection: who may read it, and everything that happens in a
conversation reaching a client already connected (staff replies, hand-offs, confirmations, approvals)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import update
from sqlmodel import col, select

from agent.conversations.tables import Approval, ConversationEvent
from agent.models.scripted import ScriptedModel, call
from api.app import create_app
from api.feed_hub import FeedHub
from basics.clock import utcnow
from testkit import fixture_data as data
from testkit.http_server import FeedEvent, served, sse_events
from testkit.service import bearer, service_settings

JAMES = "james_li_5688"
ALICE = bearer("agent_alice", role="agent")


def paid(order: data.Order) -> float:
    return sum(t["amount"] for t in order["payment_history"] if t["transaction_type"] == "payment")


ORDER = data.first_order(lambda o: o["status"] == "pending" and 100 < paid(o) <= 1000)
OWNER = str(ORDER["user_id"])
CANCEL = f"Please cancel {ORDER['order_id']}, I no longer need it"


@asynccontextmanager
async def feed_of(
    client: httpx.AsyncClient, conversation: str, headers: dict[str, str], **query: Any
) -> AsyncIterator[AsyncIterator[FeedEvent]]:
    """An open feed connection: its events, as they arrive."""
    async with client.stream(
        "GET", f"/v1/conversations/{conversation}/events", headers=headers, params=query
    ) as response:
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        yield sse_events(response)


async def until(events: AsyncIterator[FeedEvent], last: Callable[[FeedEvent], bool]) -> list[FeedEvent]:
    """Events up to and including the first one `last` accepts (the test fails if it does not come)."""
    seen: list[FeedEvent] = []
    async with asyncio.timeout(20):
        async for event in events:
            seen.append(event)
            if last(event):
                return seen
    raise AssertionError(f"the feed ended first: {seen}")


def named(kind: str, **data: Any) -> Callable[[FeedEvent], bool]:
    return lambda e: e.event == kind and all(e.data.get(k) == v for k, v in data.items())


async def say_to(client: httpx.AsyncClient, customer: str, conversation: str, text: str) -> dict[str, Any]:
    sent = await client.post(
        f"/v1/conversations/{conversation}/messages", json={"content": text}, headers=bearer(customer)
    )
    assert sent.status_code == 200, sent.text
    run: dict[str, Any] = sent.json()["run"]
    return run


async def stored_events(app: Any, conversation: str) -> list[ConversationEvent]:
    async with app.state.services.database.session(readonly=True) as session:
        rows = await session.exec(
            select(ConversationEvent)
            .where(col(ConversationEvent.conversation_id) == conversation)
            .order_by(col(ConversationEvent.id))
        )
        return list(rows.all())


async def test_only_the_conversations_customer_or_staff_may_read_its_feed(sqlite_url: str) -> None:
    app = create_app(service_settings(sqlite_url))
    async with served(app) as url, httpx.AsyncClient(base_url=url, timeout=30) as client:
        conversation = (await client.post("/v1/conversations", headers=bearer(JAMES))).json()["id"]
        path = f"/v1/conversations/{conversation}/events"
        nobody = await client.get(path)
        assert nobody.status_code == 401 and nobody.json()["error"]["code"]
        stranger = await client.get(path, headers=bearer(OWNER))
        missing = await client.get("/v1/conversations/conv_nope/events", headers=bearer(OWNER))
        assert stranger.status_code == missing.status_code == 404
        assert stranger.json() == missing.json()  # another's conversation looks exactly like none at all
        garbled = await client.get(path, headers={**bearer(JAMES), "Last-Event-ID": "12abc"})
        assert garbled.status_code == 422 and garbled.json()["error"]["code"] == "invalid_last_event_id"
        negative = await client.get(path, headers=bearer(JAMES), params={"after": -1})
        assert negative.status_code == 422
        await say_to(client, JAMES, conversation, "Where is my order #W2611340?")
        async with feed_of(client, conversation, ALICE) as events:  # staff read any conversation's feed
            seen = await until(events, named("run.completed"))
    assert [e.event for e in seen] == [
        "message.created",
        "run.started",
        "tool.finished",
        "message.created",
        "run.completed",
    ]
    assert [e.data["message"]["role"] for e in seen if e.event == "message.created"] == ["customer", "assistant"]
    assert all(e.data["conversation_id"] == conversation for e in seen)


async def test_resuming_with_last_event_id_or_after_sends_only_what_came_later(database_url: str) -> None:
    app = create_app(service_settings(database_url))
    async with served(app) as url, httpx.AsyncClient(base_url=url, timeout=30) as client:
        conversation = (await client.post("/v1/conversations", headers=bearer(JAMES))).json()["id"]
        async with feed_of(client, conversation, bearer(JAMES)) as events:
            await say_to(client, JAMES, conversation, "Where is my order #W2611340?")
            first = await until(events, named("run.completed"))
        await say_to(client, JAMES, conversation, "And my profile?")  # while nobody listens
        last = first[-1].id
        async with feed_of(client, conversation, {**bearer(JAMES), "Last-Event-ID": str(last)}) as events:
            by_header = await until(events, named("run.completed"))
        async with feed_of(client, conversation, bearer(JAMES), after=last) as events:
            by_query = await until(events, named("run.completed"))
        table = [row.id for row in await stored_events(app, conversation)]
    assert [e.id for e in first] + [e.id for e in by_header] == table
    assert [e.id for e in by_query] == [e.id for e in by_header]


async def test_a_hand_off_and_a_staff_reply_reach_an_open_feed(database_url: str) -> None:
    model = ScriptedModel([call("transfer_to_human_agents", {"summary": "wants a person"})])
    app = create_app(service_settings(database_url), model=model)
    async with served(app) as url, httpx.AsyncClient(base_url=url, timeout=30) as client:
        conversation = (await client.post("/v1/conversations", headers=bearer(JAMES))).json()["id"]
        async with feed_of(client, conversation, bearer(JAMES)) as events:
            async with client.stream(
                "POST",
                f"/v1/conversations/{conversation}/messages",
                json={"content": "I want to talk to a person"},
                headers={**bearer(JAMES), "Accept": "text/event-stream"},
            ) as response:
                streamed = [e async for e in sse_events(response)]
            assert streamed[-1].data["run"]["status"] == "handed_off"
            queued = await until(events, named("run.completed"))
            # the per-message stream carried the same stored events, with the same ids (tool progress it sent live)
            assert [(e.id, e.event) for e in streamed if e.id] == [
                (e.id, e.event) for e in queued if e.event != "tool.finished"
            ]
            assert "handoff.queued" in [e.event for e in streamed if e.id]
            handoff = next(e.data for e in queued if e.event == "handoff.queued")
            base = f"/v1/handoffs/{handoff['handoff_id']}"
            assert (await client.post(f"{base}/claim", headers=ALICE)).status_code == 200
            claimed = await until(events, named("handoff.claimed"))
            reply = await client.post(f"{base}/messages", json={"content": "Hi, Alice here."}, headers=ALICE)
            assert reply.status_code == 200, reply.text
            replied = await until(events, named("handoff.replied"))
            closed = await client.post(f"{base}/close", json={"outcome": "bot"}, headers=ALICE)
            assert closed.status_code == 200, closed.text
            ended = await until(events, named("handoff.closed"))
    assert handoff["reason"] == "transfer_requested" and handoff["actor"] is None
    assert [(e.event, e.data["actor"]) for e in claimed] == [("handoff.claimed", "agent_alice")]
    message, note = replied
    assert message.event == "message.created" and note.data["message_id"] == message.data["message"]["id"]
    assert message.data["message"] | {"id": 0, "created_at": ""} == {
        "id": 0,
        "role": "agent",
        "content": "Hi, Alice here.",
        "created_at": "",
        "author_id": "agent_alice",
        "run_id": None,
    }
    assert [(e.event, e.data["outcome"]) for e in ended] == [("handoff.closed", "bot")]


async def test_confirmations_decided_withdrawn_and_expired_reach_an_open_feed(database_url: str) -> None:
    app = create_app(service_settings(database_url))
    async with served(app) as url, httpx.AsyncClient(base_url=url, timeout=30) as client:
        services = app.state.services
        conversation = (await client.post("/v1/conversations", headers=bearer(OWNER))).json()["id"]
        async with feed_of(client, conversation, bearer(OWNER)) as events:
            # declined
            run = await say_to(client, OWNER, conversation, CANCEL)
            asked = await until(events, named("run.completed"))
            card = next(e.data for e in asked if e.event == "confirmation.required")
            assert card == {"conversation_id": conversation, "run_id": run["id"], **run["pending_confirmation"]}
            declined = await client.post(
                f"/v1/conversations/{conversation}/confirmations/{card['id']}",
                json={"decision": "decline"},
                headers=bearer(OWNER),
            )
            assert declined.status_code == 200, declined.text
            after_decline = await until(events, named("run.completed"))
            # withdrawn: the customer writes something else instead of answering
            await say_to(client, OWNER, conversation, CANCEL)
            second = await until(events, named("run.completed"))
            second_card = next(e.data for e in second if e.event == "confirmation.required")
            await say_to(client, OWNER, conversation, "Actually, what is my address?")
            after_withdraw = await until(events, named("run.completed"))
            # expired: nobody answers in time, and the sweep finds it
            await say_to(client, OWNER, conversation, CANCEL)
            third = await until(events, named("run.completed"))
            third_card = next(e.data for e in third if e.event == "confirmation.required")
            async with services.database.session() as session:
                await session.exec(
                    update(Approval)
                    .where(col(Approval.id) == third_card["id"])
                    .values(expires_at=utcnow() - timedelta(seconds=1))
                )
                await session.commit()
            await services.desk.expire_due()
            after_expiry = await until(events, named("run.completed"))
    decided = after_decline[0]
    assert (decided.event, decided.data["id"], decided.data["decision"]) == (
        "confirmation.decided",
        card["id"],
        "decline",
    )
    assert [e.event for e in after_decline[1:]] == ["run.started", "message.created", "run.completed"]
    assert after_decline[1].data["resumed_from"] == run["id"]
    withdrawn = [e for e in after_withdraw if e.event == "confirmation.decided"]
    assert [(e.data["id"], e.data["decision"]) for e in withdrawn] == [(second_card["id"], "withdrawn")]
    expired = after_expiry[0]
    assert (expired.event, expired.data["id"], expired.data["decision"]) == (
        "confirmation.decided",
        third_card["id"],
        "expired",
    )
    assert after_expiry[-1].data["run"]["status"] == "completed"


async def test_one_poll_reads_every_watched_conversation_for_all_its_clients(sqlite_url: str) -> None:
    app = create_app(service_settings(sqlite_url))
    async with served(app) as url, httpx.AsyncClient(base_url=url, timeout=30) as client:
        services = app.state.services
        hub = FeedHub(services.database, interval_s=3600)  # polled by hand below
        conversations = [(await client.post("/v1/conversations", headers=bearer(JAMES))).json()["id"] for _ in "ab"]
        async with (
            hub.subscribe(conversations[0], 0) as one,
            hub.subscribe(conversations[0], 0) as two,
            hub.subscribe(conversations[1], 0) as three,
        ):
            for conversation in conversations:
                await say_to(client, JAMES, conversation, "Where is my order #W2611340?")
            polls = hub.polls
            await hub.poll()
            assert hub.polls == polls + 1  # one query for three clients of two conversations
            got = {name: drain(s.queue) for name, s in (("one", one), ("two", two), ("three", three))}
            await hub.poll()  # nothing new: nobody gets anything twice
            assert all(s.queue.empty() for s in (one, two, three))
        await hub.close()
        table = {c: [row.id for row in await stored_events(app, c)] for c in conversations}
    assert got["one"] == got["two"] == table[conversations[0]]
    assert got["three"] == table[conversations[1]]


def drain(queue: asyncio.Queue[Any]) -> list[int | None]:
    """The ids waiting in a subscriber's queue; None marks the end of its stream."""
    ids = []
    while not queue.empty():
        item = queue.get_nowait()
        ids.append(None if item is None else item.id)
    return ids


async def test_a_fallback_after_streamed_text_tells_the_client_to_discard_it(sqlite_url: str) -> None:
    from testkit.fakes import anthropic_api as fake
    from testkit.http_server import parse_sse
    from testkit.service import anthropic_settings

    with fake.FakeMessagesAPI() as api:
        api.add(
            fake.say("The first half of an answer that", cut=fake.StreamCut(5, "error")),
            fake.say("Your order is on its way."),
        )
        settings = anthropic_settings(api.base_url) | {"SUPPORT_MODEL_FALLBACKS": "anthropic:claude-haiku-4-5"}
        app = create_app(service_settings(sqlite_url, **settings))
        async with served(app) as url, httpx.AsyncClient(base_url=url, timeout=30) as client:
            conversation = (await client.post("/v1/conversations", headers=bearer(JAMES))).json()["id"]
            async with client.stream(
                "POST",
                f"/v1/conversations/{conversation}/messages",
                json={"content": "Where is my order?"},
                headers={**bearer(JAMES), "Accept": "text/event-stream"},
            ) as response:
                events = parse_sse([line async for line in response.aiter_lines()])
            stored = (await client.get(f"/v1/conversations/{conversation}", headers=bearer(JAMES))).json()
        api.assert_done()
    kinds = [name for name, _ in events if name in ("message.delta", "message.discard")]
    discard = kinds.index("message.discard")
    assert discard > 0 and "message.delta" in kinds[discard + 1 :] and kinds.count("message.discard") == 1
    before = "".join(
        d["text"] for name, d in events[: [n for n, _ in events].index("message.discard")] if name == "message.delta"
    )
    after = "".join(d["text"] for name, d in events if name == "message.delta")[len(before) :]
    assert before and "first half" in before
    assert after == "Your order is on its way."
    assert dict(events)["message.discard"]["reason"] == "model_fallback"
    assert [m["content"] for m in stored["messages"] if m["role"] == "assistant"] == ["Your order is on its way."]
    assert events[-1][1]["run"]["reply"] == "Your order is on its way."


async def test_an_approval_opened_and_expired_reaches_an_open_feed(database_url: str) -> None:
    app = create_app(service_settings(database_url))
    async with served(app) as url, httpx.AsyncClient(base_url=url, timeout=30) as client:
        services = app.state.services
        conversation = (await client.post("/v1/conversations", headers=bearer(OWNER))).json()["id"]
        async with feed_of(client, conversation, bearer(OWNER)) as events:
            asked = await say_to(client, OWNER, conversation, CANCEL)
            confirmed = await client.post(
                f"/v1/conversations/{conversation}/confirmations/{asked['pending_confirmation']['id']}",
                json={"decision": "confirm"},
                headers=bearer(OWNER),
            )
            held = confirmed.json()["run"]
            assert held["status"] == "awaiting_approval", held
            opened = await until(events, named("run.completed", run_id=held["id"]))
            approval_id = held["pending_action"]["approval_id"]
            async with services.database.session() as session:
                await session.exec(
                    update(Approval)
                    .where(col(Approval.id) == approval_id)
                    .values(expires_at=utcnow() - timedelta(seconds=1))
                )
                await session.commit()
            await services.desk.expire_due()
            expired = await until(events, named("run.completed"))
    required = [e.data for e in opened if e.event == "approval.required"]
    assert [(r["approval_id"], r["run_id"], r["tool"]) for r in required] == [
        (approval_id, held["id"], "cancel_pending_order")
    ]
    assert required[0]["amount"] == held["pending_action"]["amount"]
    assert (expired[0].event, expired[0].data["approval_id"], expired[0].data["decision"]) == (
        "approval.decided",
        approval_id,
        "expired",
    )
    assert [e.event for e in expired[1:]] == ["run.started", "message.created", "handoff.queued", "run.completed"]
    assert expired[-1].data["run"]["status"] == "handed_off"
    assert expired[3].data["reason"] == "approval_expired"


def test_a_client_that_stops_reading_is_dropped_rather_than_buffered_without_end() -> None:
    from api.feed_hub import QUEUE_LIMIT, Subscriber

    subscriber = Subscriber("conv_x", after=0)
    for ident in range(1, QUEUE_LIMIT + 10):
        subscriber.offer(ConversationEvent(id=ident, conversation_id="conv_x", kind="run.started", data={}))
    kept = drain(subscriber.queue)
    assert kept == [*range(1, QUEUE_LIMIT + 1), None] and subscriber.dropped
    assert subscriber.after == QUEUE_LIMIT  # it resumes from the last event it was given, losing nothing
