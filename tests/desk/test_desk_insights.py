"""The desk's insights page in a real Chromium: the charts the server draws are on the page (no script, nothing
from another host, nothing the desk's policy blocks), each named for a screen reader, readable in a narrow
window, and reached from the desk's navigation."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from playwright.sync_api import BrowserContext, expect

from api.desk.session import mint_link_token
from basics.database import Database
from testkit.server import ServerProcess
from testkit.service import TEST_SECRET
from testkit.store_figures import seed_history


def last_half_past_two() -> datetime:
    """The latest 14:30 UTC that has passed: the moment the hand-counted history is laid out around."""
    now = datetime.now(UTC)
    moment = now.replace(hour=14, minute=30, second=0, microsecond=0)
    return moment if moment <= now else moment - timedelta(days=1)


def seed(database_url: str) -> None:
    """In a thread of its own: Playwright's sync API holds this thread's event loop."""

    async def write() -> None:
        database = Database(database_url)
        try:
            await seed_history(database, last_half_past_two(), running=False)
        finally:
            await database.dispose()

    worker = threading.Thread(target=asyncio.run, args=(write(),))
    worker.start()
    worker.join()


def test_the_insights_page_shows_its_plots(
    live_service: ServerProcess, sqlite_url: str, context: BrowserContext, shots: Path
) -> None:
    seed(sqlite_url)
    outside: list[str] = []
    blocked: list[str] = []
    context.on("request", lambda r: None if r.url.startswith(live_service.url) else outside.append(r.url))
    page = context.new_page()
    page.on("console", lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else None)
    page.goto(f"{live_service.url}/desk/sign-in/link?token={mint_link_token(TEST_SECRET, 'owner_olga', 'supervisor')}")
    page.get_by_role("navigation", name="Desk").get_by_role("link", name="Insights").click()
    expect(page).to_have_url(f"{live_service.url}/desk/insights")
    expect(page.get_by_role("heading", name="Insights")).to_be_visible()

    for name in ("Conversations", "Resolved without a person", "Rated helpful", "Time to answer"):
        expect(page.locator("#per-day ~ .charts").get_by_role("img", name=name)).to_be_visible()
    plots = page.locator("svg.chart")
    assert plots.count() == 18  # nine figures, per day and per hour
    conversations = page.locator("#day-conversations svg")
    bars = conversations.locator("rect")
    expect(bars).not_to_have_count(0)
    drawn = bars.first.bounding_box()
    assert drawn is not None and drawn["height"] > 0 and drawn["width"] > 0
    assert "Latest: Conversations" in (conversations.locator("desc").text_content() or "")
    expect(page.locator("#day-latency figcaption")).to_contain_text("median")
    expect(page.locator("#day-latency figcaption")).to_contain_text("95th percentile")
    expect(page.locator("table").filter(has_text="Get order details")).to_contain_text("3")
    expect(
        page.locator("table").filter(has_text="States an amount no order, message or help article showed")
    ).to_contain_text("2")
    expect(page.locator("#oldest-approval")).to_contain_text("h")
    page.screenshot(path=shots / "insights.png", full_page=True)

    page.set_viewport_size({"width": 380, "height": 800})
    chart_box = page.locator("#day-latency").bounding_box()
    assert chart_box is not None and chart_box["x"] >= 0 and chart_box["x"] + chart_box["width"] <= 380
    assert page.evaluate("document.documentElement.scrollWidth") <= 380  # the wide table scrolls in its own box
    page.screenshot(path=shots / "insights-narrow.png", full_page=True)
    assert outside == [] and blocked == []
