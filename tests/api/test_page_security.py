"""What every answer tells the browser: never frame it; the desk's and the demo's pages run only the service's own
files (the demo's one inline script and style by nonce); the widget's files stay loadable by any store's page."""

from __future__ import annotations

import re

from testkit.desk import sign_in
from testkit.service import bearer, running_service

NO_FRAMING = "frame-ancestors 'none'"


def policy_of(headers: dict[str, str]) -> dict[str, str]:
    return {
        part.split(" ", 1)[0]: part.split(" ", 1)[1] if " " in part else ""
        for part in (p.strip() for p in headers["content-security-policy"].split(";"))
        if part
    }


async def test_every_desk_page_refuses_to_be_framed_and_runs_only_its_own_files(sqlite_url: str) -> None:
    async with running_service(sqlite_url) as service:
        alice = await sign_in(service.http, "agent_alice", "agent")
        conversation = await service.new_conversation("james_li_5688")
        pages = [
            ("/desk/sign-in", {}),
            ("/desk", alice.headers),
            ("/desk/queue", alice.headers),
            (f"/desk/conversations/{conversation}", alice.headers),
            ("/desk/approvals/appr_nope", alice.headers),  # a problem page
            ("/desk/static/desk.css", {}),
        ]
        for path, headers in pages:
            page = await service.http.get(path, headers=headers)
            assert page.headers["x-frame-options"] == "DENY", path
            policy = policy_of(dict(page.headers))
            assert policy["frame-ancestors"] == "'none'", path
            assert policy["default-src"] == "'none'" and policy["script-src"] == "'self'", path
            assert policy["form-action"] == "'self'" and policy["base-uri"] == "'none'", path
            assert page.headers["referrer-policy"] == "same-origin", path
        # The pages hold no inline script or style that the policy would refuse.
        queue = await service.http.get("/desk", headers=alice.headers)
        assert not re.search(r"<script(?![^>]*\bsrc=)|<style|\sstyle=|\son[a-z]+=", queue.text)
        assert queue.headers["cache-control"] == "no-store"


async def test_the_demo_page_allows_its_own_inline_script_by_nonce_only(sqlite_url: str) -> None:
    async with running_service(sqlite_url, SUPPORT_DEMO="1") as service:
        page = await service.http.get("/demo", params={"customer": "james_li_5688"})
        assert page.status_code == 200
        assert page.headers["x-frame-options"] == "DENY"
        policy = policy_of(dict(page.headers))
        assert policy["frame-ancestors"] == "'none'"
        nonce = re.fullmatch(r"'self' 'nonce-([A-Za-z0-9_-]+)'", policy["script-src"])
        assert nonce is not None
        inline = re.findall(r"<(script|style)([^>]*)>", page.text)
        assert inline and all(f'nonce="{nonce.group(1)}"' in attrs or "src=" in attrs for _, attrs in inline)
        again = await service.http.get("/demo")
        assert policy_of(dict(again.headers))["script-src"] != policy["script-src"]  # a new nonce each time


async def test_the_widget_files_stay_loadable_by_any_store_page_and_the_api_frames_nothing(sqlite_url: str) -> None:
    async with running_service(sqlite_url) as service:
        script = await service.http.get("/widget.js", headers={"Origin": "https://shop.example"})
        assert script.status_code == 200
        assert script.headers["access-control-allow-origin"] == "*"
        assert script.headers["cross-origin-resource-policy"] == "cross-origin"
        answer = await service.http.get("/v1/conversations", headers=bearer("james_li_5688"))
        assert answer.headers["x-frame-options"] == "DENY"
        assert policy_of(dict(answer.headers)) == {"default-src": "'none'", "frame-ancestors": "'none'"}
        refused = await service.http.get("/v1/conversations")
        assert refused.status_code == 401 and refused.headers["x-frame-options"] == "DENY"
