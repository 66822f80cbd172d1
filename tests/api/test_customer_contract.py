"""What a widget on another site needs from the API: its own conversations, message ids, and CORS that is
closed unless the operator names the widget's origins."""

from __future__ import annotations

from testkit.service import bearer, running_service

JAMES = "james_li_5688"
OTHER = "yusuf_rossi_9620"
SHOP = "https://shop.example"


async def test_a_customer_lists_only_their_own_conversations_newest_first(sqlite_url: str) -> None:
    async with running_service(sqlite_url) as service:
        first = await service.new_conversation(JAMES)
        second = await service.new_conversation(JAMES)
        await service.new_conversation(OTHER)
        listed = await service.http.get("/v1/conversations", headers=bearer(JAMES))
        assert listed.status_code == 200
        assert [c["id"] for c in listed.json()] == [second, first]
        assert {c["customer_id"] for c in listed.json()} == {JAMES}
        one = await service.http.get("/v1/conversations?limit=1", headers=bearer(JAMES))
        assert [c["id"] for c in one.json()] == [second]
        too_many = await service.http.get("/v1/conversations?limit=1000", headers=bearer(JAMES))
        assert too_many.status_code == 422 and too_many.json()["error"]["code"] == "invalid_request"
        staff = await service.http.get("/v1/conversations", headers=bearer("agent_alice", "agent"))
        assert staff.status_code == 403
        anonymous = await service.http.get("/v1/conversations")
        assert anonymous.status_code == 401


async def test_messages_carry_increasing_ids(sqlite_url: str) -> None:
    async with running_service(sqlite_url) as service:
        conversation = await service.new_conversation(JAMES)
        sent = await service.say(JAMES, conversation, "Where is my order #W2611340?")
        assert isinstance(sent.json()["message"]["id"], int)
        read = await service.http.get(f"/v1/conversations/{conversation}", headers=bearer(JAMES))
        ids = [m["id"] for m in read.json()["messages"]]
        assert len(ids) == 2 and ids == sorted(ids) and ids[0] == sent.json()["message"]["id"]


def preflight(origin: str) -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    }


async def test_cors_is_closed_by_default(sqlite_url: str) -> None:
    async with running_service(sqlite_url) as service:
        asked = await service.http.options("/v1/conversations", headers=preflight(SHOP))
        assert "access-control-allow-origin" not in asked.headers
        listed = await service.http.get("/v1/conversations", headers={**bearer(JAMES), "Origin": SHOP})
        assert "access-control-allow-origin" not in listed.headers


async def test_cors_admits_the_configured_origins_only(sqlite_url: str) -> None:
    async with running_service(sqlite_url, SUPPORT_CORS_ORIGINS=f"{SHOP}/, https://help.example") as service:
        asked = await service.http.options("/v1/conversations", headers=preflight(SHOP))
        assert asked.status_code == 200
        assert asked.headers["access-control-allow-origin"] == SHOP
        assert "authorization" in asked.headers["access-control-allow-headers"].lower()
        assert "access-control-allow-credentials" not in asked.headers
        listed = await service.http.get("/v1/conversations", headers={**bearer(JAMES), "Origin": SHOP})
        assert listed.headers["access-control-allow-origin"] == SHOP
        assert "retry-after" in listed.headers["access-control-expose-headers"].lower()
        stranger = await service.http.options("/v1/conversations", headers=preflight("https://evil.example"))
        assert "access-control-allow-origin" not in stranger.headers
