"""What the service answers for the widget's files and the demo page, without a browser: caching by content,
loading from any origin, and `/demo` existing only when the operator (or the development secret) allows it."""

from __future__ import annotations

import jwt

from api.settings import DEV_JWT_SECRET
from testkit.service import TEST_SECRET, running_service

JAMES = "james_li_5688"
OWN_PAGE = {"Origin": "http://service.test"}
"""What a browser sends with the demo page's own `fetch`: the service's origin (the test client's base URL)."""
MODULES = ["/widget/api.js", "/widget/sse.js", "/widget/feed.js", "/widget/panel.js", "/widget/view.js"]


async def test_the_widget_files_are_public_cacheable_and_loadable_from_any_origin(sqlite_url: str) -> None:
    async with running_service(sqlite_url) as service:
        entry = await service.http.get("/widget.js", headers={"Origin": "https://shop.example"})
        assert entry.status_code == 200
        assert entry.headers["content-type"].startswith("text/javascript")
        assert entry.headers["access-control-allow-origin"] == "*"
        assert "public" in entry.headers["cache-control"]
        assert "export async function mount" in entry.text
        for module in MODULES:
            loaded = await service.http.get(module)
            assert loaded.status_code == 200, module
        style = await service.http.get("/widget/widget.css")
        assert style.headers["content-type"].startswith("text/css")

        etag = entry.headers["etag"]
        again = await service.http.get("/widget.js", headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
        other = await service.http.get("/widget/api.js", headers={"If-None-Match": etag})
        assert other.status_code == 200 and other.headers["etag"] != etag, "each file has its own tag"


async def test_only_the_widget_files_can_be_named(sqlite_url: str) -> None:
    async with running_service(sqlite_url) as service:
        for path in [
            "/widget/nothing.js",
            "/widget/../assets.py",
            "/widget/%2e%2e/demo.py",
            "/widget/templates/demo.html",
        ]:
            missing = await service.http.get(path)
            assert missing.status_code == 404, path
            assert missing.json()["error"]["code"] == "not_found"


async def test_demo_is_not_there_without_the_development_secret_or_support_demo(sqlite_url: str) -> None:
    async with running_service(sqlite_url) as service:  # the test secret, SUPPORT_DEMO unset
        page = await service.http.get("/demo")
        assert page.status_code == 404 and page.json()["error"]["code"] == "not_found"
        token = await service.http.post("/demo/token", json={"customer": JAMES}, headers=OWN_PAGE)
        assert token.status_code == 404


async def test_demo_is_on_with_the_development_secret(sqlite_url: str) -> None:
    async with running_service(sqlite_url, SUPPORT_JWT_SECRET=DEV_JWT_SECRET) as service:
        page = await service.http.get("/demo")
        assert page.status_code == 200 and "Shop as" in page.text


async def test_demo_lists_customers_and_embeds_the_widget_for_the_chosen_one(sqlite_url: str) -> None:
    async with running_service(sqlite_url, SUPPORT_DEMO="1") as service:
        picker = await service.http.get("/demo")
        assert picker.status_code == 200
        assert f'value="{JAMES}"' in picker.text and "/widget.js" not in picker.text
        page = await service.http.get("/demo", params={"customer": JAMES})
        assert page.status_code == 200
        assert '<script type="module" src="/widget.js?v=' in page.text and "#W2611340" in page.text
        unknown = await service.http.get("/demo", params={"customer": "nobody_0000"})
        assert unknown.status_code == 404 and "no customer" in unknown.text


async def test_the_demo_token_is_a_short_lived_token_of_that_customer(sqlite_url: str) -> None:
    async with running_service(sqlite_url, SUPPORT_DEMO="1") as service:
        minted = await service.http.post("/demo/token", json={"customer": JAMES}, headers=OWN_PAGE)
        assert minted.status_code == 200
        token = minted.json()["token"]
        claims = jwt.decode(token, TEST_SECRET, algorithms=["HS256"])
        assert claims["sub"] == JAMES and claims["role"] == "customer"
        assert claims["exp"] - claims["iat"] <= 15 * 60
        listed = await service.http.get("/v1/conversations", headers={"Authorization": f"Bearer {token}"})
        assert listed.status_code == 200

        unknown = await service.http.post("/demo/token", json={"customer": "nobody_0000"}, headers=OWN_PAGE)
        assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "customer_not_found"
        for body in [{}, {"customer": 5}, {"customer": JAMES, "role": "supervisor"}, {"customer": ""}]:
            refused = await service.http.post("/demo/token", json=body, headers=OWN_PAGE)
            assert refused.status_code == 422, body


async def test_the_demo_token_is_only_for_the_services_own_page(sqlite_url: str) -> None:
    """Another site open in the same browser cannot have the demo mint a token for it (CSRF): its requests carry
    its own origin. The same page's `Referer` is accepted when a privacy setting drops `Origin`."""
    async with running_service(sqlite_url, SUPPORT_DEMO="1") as service:
        for headers in [
            {"Origin": "https://evil.example"},
            {"Origin": "http://service.test.evil.example"},
            {"Origin": "https://service.test"},  # another scheme is another origin
            {"Origin": "null"},  # a sandboxed frame or a file
            {"Referer": "https://evil.example/demo"},
            {"Origin": "https://evil.example", "Referer": "http://service.test/demo"},  # Origin wins
            {},  # neither: no page of ours sent it
        ]:
            refused = await service.http.post("/demo/token", json={"customer": JAMES}, headers=headers)
            assert refused.status_code == 403, headers
            assert refused.json()["error"]["code"] == "cross_origin"
            assert "token" not in refused.json()
        by_referer = await service.http.post(
            "/demo/token", json={"customer": JAMES}, headers={"Referer": f"http://service.test/demo?customer={JAMES}"}
        )
        assert by_referer.status_code == 200 and by_referer.json()["token"]
