"""Per-customer caps on what costs the service a connection or a row: open conversation feeds, and new
conversations an hour. Over a cap is 429 with Retry-After; other customers and staff are not affected."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import httpx
from sqlmodel import col, func, select

from agent.conversations.tables import Conversation
from api.app import create_app
from api.services import Services
from testkit.http_server import served
from testkit.service import bearer, running_service, service_settings

JAMES = "james_li_5688"
RAJ = "raj_sanchez_2970"
ALICE = bearer("agent_alice", role="agent")


@asynccontextmanager
async def open_feed(client: httpx.AsyncClient, conversation: str, headers: dict[str, str]) -> AsyncIterator[int]:
    """A feed held open (its first line read, so the server is streaming it); yields the answer's status."""
    async with client.stream("GET", f"/v1/conversations/{conversation}/events", headers=headers) as response:
        lines = response.aiter_lines()  # kept: a dropped iterator would close the stream when collected
        if response.status_code == 200:
            await anext(lines)
        else:
            await response.aread()
        yield response.status_code


async def held_by(services: Services, customer: str, count: int) -> None:
    """Until the server has counted a closed feed as closed (it learns of the disconnect on its own time)."""
    async with asyncio.timeout(10):
        # No event to wait on from outside: the server notices the closed connection on its own.
        while services.feed.open_streams.get(customer, 0) != count:  # noqa: ASYNC110
            await asyncio.sleep(0.01)


async def test_a_customer_holds_at_most_the_configured_feeds_open(sqlite_url: str) -> None:
    app = create_app(service_settings(sqlite_url))  # the default: ten per customer
    async with served(app) as url, httpx.AsyncClient(base_url=url, timeout=30) as client:
        services: Services = app.state.services
        james = (await client.post("/v1/conversations", headers=bearer(JAMES))).json()["id"]
        raj = (await client.post("/v1/conversations", headers=bearer(RAJ))).json()["id"]
        async with AsyncExitStack() as held:
            statuses = [await held.enter_async_context(open_feed(client, james, bearer(JAMES))) for _ in range(10)]
            assert statuses == [200] * 10
            refused = await client.get(f"/v1/conversations/{james}/events", headers=bearer(JAMES))
            assert refused.status_code == 429
            assert refused.json()["error"]["code"] == "too_many_streams"
            assert int(refused.headers["Retry-After"]) > 0
            async with open_feed(client, raj, bearer(RAJ)) as other, open_feed(client, james, ALICE) as staff:
                assert (other, staff) == (200, 200)  # another customer, and staff, are not affected
        await held_by(services, JAMES, 0)  # every feed closed: each slot came back
        async with open_feed(client, james, bearer(JAMES)) as again:
            assert again == 200


async def test_the_feed_cap_is_a_setting(sqlite_url: str) -> None:
    app = create_app(service_settings(sqlite_url, SUPPORT_FEED_STREAMS_PER_CUSTOMER=2))
    async with served(app) as url, httpx.AsyncClient(base_url=url, timeout=30) as client:
        james = (await client.post("/v1/conversations", headers=bearer(JAMES))).json()["id"]
        async with (
            open_feed(client, james, bearer(JAMES)),
            open_feed(client, james, bearer(JAMES)),
            open_feed(client, james, bearer(JAMES)) as third,
        ):
            assert third == 429
        await held_by(app.state.services, JAMES, 0)


async def test_new_conversations_an_hour_hold_under_a_burst(database_url: str) -> None:
    async with running_service(database_url, SUPPORT_CONVERSATIONS_PER_HOUR=5) as service:
        answers = await asyncio.gather(
            *(service.http.post("/v1/conversations", headers=bearer(JAMES)) for _ in range(20))
        )
        codes = sorted(a.status_code for a in answers)
        assert codes == [201] * 5 + [429] * 15
        refused = next(a for a in answers if a.status_code == 429)
        assert refused.json()["error"]["code"] == "rate_limited"
        assert 1 <= int(refused.headers["Retry-After"]) <= 3600 / 5
        async with service.services.database.session(readonly=True) as session:
            stored = await session.scalar(
                select(func.count()).select_from(Conversation).where(col(Conversation.customer_id) == JAMES)
            )
        assert stored == 5
        assert (await service.http.post("/v1/conversations", headers=bearer(RAJ))).status_code == 201
        # The chat itself is not counted against it: the five conversations still take messages.
        conversation = next(a for a in answers if a.status_code == 201).json()["id"]
        assert (await service.say(JAMES, conversation, "Where is my order #W2611340?")).status_code == 200


async def test_by_default_a_burst_of_new_conversations_is_capped(sqlite_url: str) -> None:
    async with running_service(sqlite_url) as service:
        answers = [await service.http.post("/v1/conversations", headers=bearer(JAMES)) for _ in range(40)]
        assert [a.status_code for a in answers] == [201] * 30 + [429] * 10
