"""The demo store page under its Content Security Policy in Chromium: the widget it embeds mounts, streams a reply
and reads the feed with no violation reported, while a script injected into the page does not run."""

from __future__ import annotations

from playwright.sync_api import ConsoleMessage, Page, expect

from testkit.server import ServerProcess
from tests.widget.test_widget_browser import ARRIVES_MS, JAMES, open_by_keyboard, signed_in, write


def test_the_demo_and_its_widget_run_under_the_pages_policy(live_service: ServerProcess, page: Page) -> None:
    complaints: list[str] = []

    def note(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text or "Refused to" in message.text:
            complaints.append(message.text)

    page.on("console", note)
    signed_in(page, live_service.url, JAMES)
    open_by_keyboard(page)
    write(page, "Where is order #W2611340?")
    expect(page.locator(".message.assistant")).to_contain_text("#W2611340", timeout=ARRIVES_MS)
    assert complaints == []

    page.evaluate(
        "() => { const s = document.createElement('script'); s.textContent = 'window.ran = 1';"
        " document.body.append(s); }"
    )
    assert page.evaluate("() => window.ran") is None
    assert complaints  # the browser refused it, and said so
