"""No page can frame the desk: an approval page, with its Approve button, loaded in an iframe of a same-site page
(the desk's SameSite cookie is sent to it) shows nothing in Chromium. And the desk's own pages run under their
Content Security Policy without a single violation: htmx still polls the queue in."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, ConsoleMessage, expect

from testkit.server import ServerProcess, free_port
from tests.desk.test_desk_browser import JAMES, LIVE_QUEUE_TIMEOUT_MS, Customer, signer


@pytest.fixture
def same_site_page(tmp_path: Path) -> Iterator[Callable[[str], str]]:
    """A page served from another port of 127.0.0.1: another origin, but the same site as the desk, so a browser
    sends the desk's SameSite=Strict cookie along with the frame's request."""
    folder = tmp_path / "attacker"
    folder.mkdir()
    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), partial(SimpleHTTPRequestHandler, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()

    def page_framing(url: str) -> str:
        (folder / "index.html").write_text(
            f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Win a prize</title></head><body>'
            f'<h1>Click the button to win</h1><iframe id="bait" src="{url}" width="800" height="600"></iframe>'
            "</body></html>"
        )
        return f"http://127.0.0.1:{port}/index.html"

    yield page_framing
    server.shutdown()
    server.server_close()


def test_an_approval_page_cannot_be_framed_by_a_same_site_page(
    live_service: ServerProcess,
    new_context: Callable[..., BrowserContext],
    same_site_page: Callable[[str], str],
    shots: Path,
) -> None:
    _, approval_id = Customer(live_service.url, JAMES).held("Order #W2611340 arrived damaged, please refund $150")
    alice = signer(live_service, new_context)("agent_alice", "agent")
    approval_url = f"{live_service.url}/desk/approvals/{approval_id}"
    alice.goto(approval_url)
    expect(alice.locator("button[value=approve]")).to_be_visible()  # the page works on its own

    with alice.expect_response(approval_url) as framed:
        alice.goto(same_site_page(approval_url))
    assert framed.value.status == 200  # the cookie went along: only the headers stop the page from showing
    assert framed.value.headers["x-frame-options"] == "DENY"
    frame = next(f for f in alice.frames if f is not alice.main_frame)
    expect(alice.locator("#bait")).to_be_visible()
    assert frame.url != approval_url  # Chromium replaced the refused page with its error page
    assert frame.locator("button[value=approve]").count() == 0
    alice.screenshot(path=shots / "framed.png")


def test_the_desk_runs_under_its_content_security_policy(
    live_service: ServerProcess, new_context: Callable[..., BrowserContext], shots: Path
) -> None:
    complaints: list[str] = []
    alice = signer(live_service, new_context)("agent_alice", "agent")
    alice.on("console", lambda m: complaints.append(m.text) if _about_policy(m) else None)
    alice.goto(f"{live_service.url}/desk")
    expect(alice.locator("#approval-count")).to_have_text("0")
    _, approval_id = Customer(live_service.url, JAMES).held("Order #W2611340 arrived damaged, please refund $150")
    row = alice.locator(f"tr[data-approval='{approval_id}']")
    expect(row).to_be_visible(timeout=LIVE_QUEUE_TIMEOUT_MS)  # htmx, from the desk's own files, polled it in
    row.locator("a").click()
    expect(alice.locator("#plain")).to_contain_text("Refund $150.00")
    assert complaints == []
    # An inline script, as an injection would add, does not run.
    alice.evaluate(
        "() => { const s = document.createElement('script'); s.textContent = 'window.ran = 1';"
        " document.body.append(s); }"
    )
    assert alice.evaluate("() => window.ran") is None
    assert any("Content Security Policy" in c for c in complaints)  # ...and the browser says why
    complaints.clear()
    alice.goto(f"{live_service.url}/desk")
    expect(row).to_be_visible()
    assert complaints == []
    alice.screenshot(path=shots / "queue-under-policy.png")


def _about_policy(message: ConsoleMessage) -> bool:
    return "Content Security Policy" in message.text or "Refused to" in message.text
