"""The desk's doors: sign-in required, staff only, CSRF on every form post, the cookie's flags, expiry,
sign-out, and one-time links."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
from sqlalchemy import update
from sqlmodel import col, select

from agent.conversations.tables import DeskSessionRecord
from api.auth import mint_token
from api.desk.session import mint_link_token
from api.settings import DEV_JWT_SECRET
from testkit.desk import set_cookies, sign_in, sign_in_form
from testkit.service import TEST_SECRET, ServiceClient, bearer, running_service

JAMES = "james_li_5688"


async def test_no_session_is_sent_to_sign_in(sqlite_url: str) -> None:
    async with running_service(sqlite_url) as service:
        for path in ("/desk", "/desk/queue", "/desk/approvals/appr_x", "/desk/handoffs/hoff_x"):
            page = await service.http.get(path)
            assert page.status_code == 303, path
            assert page.headers["location"] == "/desk/sign-in"
        # An API bearer token is not a desk session, even in the cookie.
        api_token = bearer("agent_alice", role="agent")["Authorization"].removeprefix("Bearer ")
        forged = await service.http.get("/desk", headers={"Cookie": f"desk_session={api_token}"})
        assert forged.status_code == 303
        polled = await service.http.get("/desk/queue", headers={"HX-Request": "true"})
        assert polled.status_code == 401 and polled.headers["HX-Redirect"] == "/desk/sign-in"


async def test_a_customer_token_is_refused(sqlite_url: str) -> None:
    async with running_service(sqlite_url) as service:
        form_key, cookie = await sign_in_form(service.http)
        token = bearer(JAMES)["Authorization"].removeprefix("Bearer ")
        refused = await service.http.post(
            "/desk/sign-in", data={"token": token, "csrf": form_key}, headers={"Cookie": f"desk_sign_in={cookie}"}
        )
        assert refused.status_code == 403
        assert "support staff" in refused.text
        assert "desk_session" not in refused.headers.get("set-cookie", "")
        # Through a single-sign-on proxy's header as well.
        proxied = await service.http.get("/desk/sign-in", headers=bearer(JAMES))
        assert proxied.status_code == 403


async def test_the_session_cookie_is_http_only_strict_and_secure(sqlite_url: str) -> None:
    async with running_service(sqlite_url) as service:
        form_key, cookie = await sign_in_form(service.http)
        token = bearer("agent_alice", role="agent")["Authorization"].removeprefix("Bearer ")
        signed = await service.http.post(
            "/desk/sign-in", data={"token": token, "csrf": form_key}, headers={"Cookie": f"desk_sign_in={cookie}"}
        )
        assert signed.status_code == 303
        session = set_cookies(signed)["desk_session"]
        assert session["httponly"] is True
        assert session["samesite"] == "strict"
        assert session["secure"] is True  # the service runs on a real secret, not the development one
        assert session["path"] == "/desk"
        assert 3 * 3600 - 60 < int(session["max-age"]) <= 3 * 3600  # the staff token's three hours, not the desk's 8


async def test_the_development_secret_drops_secure_so_http_localhost_works(sqlite_url: str) -> None:
    async with running_service(sqlite_url, SUPPORT_JWT_SECRET="dev-only-secret-change-me-0123456789abcdef") as service:
        proxied = await service.http.get("/desk/sign-in", headers={"Authorization": "Bearer " + mint_dev_staff_token()})
        assert proxied.status_code == 303
        assert set_cookies(proxied)["desk_session"]["secure"] == ""


def mint_dev_staff_token() -> str:
    return mint_token(DEV_JWT_SECRET, "agent_alice", "agent")


async def test_form_posts_without_the_csrf_token_are_refused(sqlite_url: str) -> None:
    async with running_service(sqlite_url) as service:
        alice = await sign_in(service.http, "agent_alice", "agent")
        for path, data in (
            ("/desk/sign-out", {}),
            ("/desk/approvals/appr_x/reject", {"note": "no"}),
            ("/desk/handoffs/hoff_x/claim", {}),
        ):
            missing = await service.http.post(path, data=data, headers=alice.headers)
            assert missing.status_code == 403, path
            other = await sign_in(service.http, "agent_bob", "agent")
            wrong = await service.http.post(path, data={**data, "csrf": other.csrf}, headers=alice.headers)
            assert wrong.status_code == 403, path
        # The sign-in form has its own: a post without the matching cookie value is refused.
        token = bearer("agent_alice", role="agent")["Authorization"].removeprefix("Bearer ")
        assert (await service.http.post("/desk/sign-in", data={"token": token})).status_code == 403


async def test_sessions_expire_and_sign_out_ends_them(database_url: str) -> None:
    async with running_service(database_url) as service:
        alice = await sign_in(service.http, "agent_alice", "agent")
        copied = dict(alice.headers)  # what someone who copied the cookie holds
        await expire_sessions(service, "agent_alice")
        expired = await service.http.get("/desk", headers=alice.headers)
        assert expired.status_code == 303 and expired.headers["location"] == "/desk/sign-in"

        alice = await sign_in(service.http, "agent_alice", "agent")
        copied = dict(alice.headers)
        out = await service.http.post("/desk/sign-out", data={"csrf": alice.csrf}, headers=alice.headers)
        assert out.status_code == 303
        cleared = set_cookies(out)["desk_session"]
        assert cleared.value == "" and int(cleared["max-age"]) == 0
        # The copy no longer works, for a page or for a decision.
        assert (await service.http.get("/desk", headers=copied)).status_code == 303
        rejected = await service.http.post(
            "/desk/approvals/appr_x/reject", data={"note": "no", "csrf": alice.csrf}, headers=copied
        )
        assert rejected.status_code == 303 and rejected.headers["location"] == "/desk/sign-in"


async def test_a_signed_cookie_without_an_open_session_is_refused(sqlite_url: str) -> None:
    """A cookie signed with the service secret but naming no stored session (one minted by hand, or one from
    before sessions were stored) signs nobody in."""
    async with running_service(sqlite_url) as service:
        claims = {"sub": "agent_alice", "role": "agent", "sid": "made-up", "aud": "desk"}
        forged = jwt.encode({**claims, "exp": datetime.now(UTC) + timedelta(hours=1)}, TEST_SECRET, algorithm="HS256")
        page = await service.http.get("/desk", headers={"Cookie": f"desk_session={forged}"})
        assert page.status_code == 303 and page.headers["location"] == "/desk/sign-in"


async def test_a_session_lasts_no_longer_than_the_staff_token_it_came_from(sqlite_url: str) -> None:
    async with running_service(sqlite_url) as service:
        token = mint_token(TEST_SECRET, "agent_alice", "agent", ttl=timedelta(seconds=60))
        expires = jwt.decode(token, options={"verify_signature": False})["exp"]
        signed = await service.http.get("/desk/sign-in", headers={"Authorization": f"Bearer {token}"})
        assert signed.status_code == 303
        assert 0 < int(set_cookies(signed)["desk_session"]["max-age"]) <= 60
        async with service.services.database.session(readonly=True) as db:
            (stored,) = (await db.exec(select(DeskSessionRecord))).all()
        assert stored.expires_at == datetime.fromtimestamp(expires, UTC)
        # A long-lived token gets the desk's own limit instead.
        long = mint_token(TEST_SECRET, "agent_bob", "agent", ttl=timedelta(days=30))
        signed = await service.http.get("/desk/sign-in", headers={"Authorization": f"Bearer {long}"})
        assert int(set_cookies(signed)["desk_session"]["max-age"]) == 480 * 60


async def expire_sessions(service: ServiceClient, staff_id: str) -> None:
    """Move the staff member's sessions' end into the past, as time passing would."""
    async with service.services.database.session() as db:
        await db.exec(
            update(DeskSessionRecord)
            .where(col(DeskSessionRecord.staff_id) == staff_id)
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        await db.commit()


async def test_a_sign_in_link_works_once(sqlite_url: str) -> None:
    async with running_service(sqlite_url) as service:
        link = mint_link_token(TEST_SECRET, "supervisor_sam", "supervisor")
        first = await service.http.get("/desk/sign-in/link", params={"token": link})
        assert first.status_code == 303 and first.headers["location"] == "/desk"
        session = set_cookies(first)["desk_session"].value
        queue = await service.http.get("/desk", headers={"Cookie": f"desk_session={session}"})
        assert "supervisor_sam" in queue.text
        again = await service.http.get("/desk/sign-in/link", params={"token": link})
        assert again.status_code == 401 and "already used" in again.text
        stale = mint_link_token(TEST_SECRET, "agent_alice", "agent", ttl=timedelta(seconds=-1))
        assert (await service.http.get("/desk/sign-in/link", params={"token": stale})).status_code == 401
        customer = mint_link_token(TEST_SECRET, JAMES, "customer")
        assert (await service.http.get("/desk/sign-in/link", params={"token": customer})).status_code == 403
