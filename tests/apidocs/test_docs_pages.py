"""`/docs` works where the browser can reach nothing but the service: Swagger UI comes from the service's own
package. The page is opened under a public-looking name (`support.example`, answered by the
service on 127.0.0.1) so that anything a page would fetch from elsewhere, as Swagger UI's validator badge does
for a spec that is not on localhost, is a request to another host: every such request fails the test.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from playwright.sync_api import Page, Route, expect

from testkit.server import ServerProcess

PUBLIC_NAME = "support.example"
OPERATIONS = json.loads((Path(__file__).resolve().parents[2] / "docs" / "openapi.json").read_text())


def served_only_by_the_service(page: Page, service: ServerProcess) -> list[str]:
    """Route the page's requests: the service's name to the service, anything else refused and recorded."""
    elsewhere: list[str] = []

    def route(route: Route) -> None:
        url = urlsplit(route.request.url)
        if url.hostname != PUBLIC_NAME:
            elsewhere.append(route.request.url)
            route.abort()
            return
        local = f"{service.url}{url.path}" + (f"?{url.query}" if url.query else "")
        route.fulfill(response=route.fetch(url=local))

    page.route("**/*", route)
    return elsewhere


def operations() -> list[dict[str, str]]:
    return [op for path in OPERATIONS["paths"].values() for op in path.values()]


def test_swagger_ui_lists_every_operation_with_nothing_fetched_from_elsewhere(
    live_service: ServerProcess, page: Page, shots: Path
) -> None:
    elsewhere = served_only_by_the_service(page, live_service)
    page.goto(f"http://{PUBLIC_NAME}/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Support agent service", timeout=20_000)
    listed = operations()
    expect(page.locator(".opblock")).to_have_count(len(listed))
    for op in listed:  # Swagger UI's id for an operation: its first tag and its operation id
        expect(page.locator(f"#operations-{op['tags'][0]}-{op['operationId']}")).to_have_count(1)
    expect(page.get_by_role("button", name="Authorize")).to_be_visible()
    send = page.locator("#operations-conversations-send_message")
    send.locator(".opblock-summary").click()
    expect(send).to_contain_text("Idempotency-Key")
    page.screenshot(path=shots / "docs.png", full_page=False)
    assert elsewhere == [], f"the page asked other hosts: {elsewhere}"


def test_there_is_no_redoc_page_whose_script_would_fetch_from_its_vendor(live_service: ServerProcess) -> None:
    """ReDoc's script loads its vendor's logo from the vendor's CDN, so the service does not offer it."""
    assert httpx.get(f"{live_service.url}/redoc", timeout=30).status_code == 404
