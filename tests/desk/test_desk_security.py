"""The desk's doors: sign-in required, staff only, CSRF on every form post, the cookie's flags, expiry,
sign-out, and one-time links."""

from __future__ import annotations

from datetime import timedelta

from api.auth import mint_token
from api.desk.session import mint_link_token, open_session
from api.settings import DEV_JWT_SECRET
from tests.support.desk import set_cookies, sign_in, sign_in_form
from tests.support.service import TEST_SECRET, bearer, running_service
from tools.context import Principal

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
        assert int(session["max-age"]) == 480 * 60


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


async def test_sessions_expire_and_sign_out_ends_them(sqlite_url: str) -> None:
    async with running_service(sqlite_url) as service:
        stale, _ = open_session(TEST_SECRET, Principal("agent_alice", "agent"), timedelta(seconds=-1))
        expired = await service.http.get("/desk", headers={"Cookie": f"desk_session={stale}"})
        assert expired.status_code == 303 and expired.headers["location"] == "/desk/sign-in"

        alice = await sign_in(service.http, "agent_alice", "agent")
        out = await service.http.post("/desk/sign-out", data={"csrf": alice.csrf}, headers=alice.headers)
        assert out.status_code == 303
        cleared = set_cookies(out)["desk_session"]
        assert cleared.value == "" and int(cleared["max-age"]) == 0


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
