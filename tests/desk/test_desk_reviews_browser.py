"""The review queue in a real Chromium: a customer's thumbs-down in the widget puts the run in the Reviews page;
the reviewer filters for it, opens the run review with the flagged part of the reply marked, adds it to the golden
cases with a correction, and `support eval` plays the case it wrote. Screenshots of the pages go to the test's
output folder.

The offline model grounds every fact it states, so the grounding flag whose mark the reviewer reads (a tracking
number) is written into the service's database by the test, as the grounding check records one."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from agent.conversations.tables import RunFlag
from agent.quality.flags import FlagKind
from basics.clock import utcnow
from basics.database import Database
from testkit.server import ROOT, ServerProcess
from tests.desk.test_desk_browser import JAMES, Customer, signer
from tests.widget.test_widget_browser import ARRIVES_MS, open_by_keyboard, signed_in, write

TRACKING = "357962501027"
SUPPORT_EVAL = [sys.executable, "-m", "cli.main", "eval", "--model", "offline", "--tasks", "golden"]


@pytest.fixture
def cases_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "golden-cases"
    folder.mkdir()
    return folder


@pytest.fixture
def live_service_env(cases_folder: Path) -> dict[str, str]:
    return {"SUPPORT_DESK_SECURE_COOKIE": "false", "SUPPORT_DEMO": "1", "SUPPORT_GOLDEN_CASES_DIR": str(cases_folder)}


def record_ungrounded_tracking(database_url: str, conversation: str, run_id: str) -> None:
    """A grounding flag on the tracking number the run's reply gives, as the grounding check writes one."""

    async def write() -> None:
        database = Database(database_url)
        try:
            async with database.session() as db:
                db.add(
                    RunFlag(
                        run_id=run_id,
                        conversation_id=conversation,
                        kind=FlagKind.UNGROUNDED_TRACKING,
                        value=TRACKING,
                        created_at=utcnow(),
                    )
                )
                await db.commit()
        finally:
            await database.dispose()

    # Playwright's sync API keeps this thread's event loop marked as running: the write gets a thread of its own.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, write()).result()


def thumbs_down_in_the_widget(page: Page, url: str, shots: Path) -> str:
    """James asks where his order is and answers "No" to "Was this answer helpful?", with a comment. Returns the
    run he judged."""
    signed_in(page, url, JAMES)
    open_by_keyboard(page)
    write(page, "Where is my order #W2611340?")
    feedback = page.locator(".feedback")
    expect(feedback.get_by_text("Was this answer helpful?")).to_be_visible(timeout=ARRIVES_MS)
    feedback.get_by_role("button", name="No").click()
    page.get_by_label("Sorry it didn't help. What was missing or wrong? (optional)").fill("that is not my parcel")
    feedback.get_by_role("button", name="Send", exact=True).click()
    expect(feedback).to_have_text("Thank you for telling us.", timeout=ARRIVES_MS)
    page.screenshot(path=shots / "widget-thumbs-down.png")
    run_id = feedback.get_attribute("data-feedback-run")
    assert run_id
    return run_id


def test_a_thumbs_down_is_reviewed_and_becomes_a_golden_case_eval_plays(
    live_service: ServerProcess,
    new_context: Callable[..., BrowserContext],
    shots: Path,
    sqlite_url: str,
    cases_folder: Path,
    tmp_path: Path,
) -> None:
    run_id = thumbs_down_in_the_widget(new_context().new_page(), live_service.url, shots)
    customer = Customer(live_service.url, JAMES)
    (conversation,) = [c["id"] for c in customer.http.get("/v1/conversations").json()]
    read = customer.http.get(f"/v1/conversations/{conversation}").json()
    (run,) = [r for r in read["runs"] if r["id"] == run_id]
    assert TRACKING in run["reply"]
    unflagged = customer.say(customer.new_conversation(), "What kinds of products do you sell?")["run"]
    record_ungrounded_tracking(sqlite_url, conversation, run_id)

    reviewer = signer(live_service, new_context)("agent_alice", "agent")
    reviewer.get_by_role("navigation", name="Desk").get_by_role("link", name="Reviews").click()
    reviewer.get_by_label("Flag").select_option(label="The customer said it did not help")
    reviewer.get_by_role("button", name="Filter").click()
    expect(reviewer).to_have_url(f"{live_service.url}/desk/reviews?kind=thumbs_down&from=&to=&model=&prompt=")
    row = reviewer.locator(f"tr[data-run='{run['id']}']")
    expect(row).to_contain_text("The customer said it did not help")
    expect(row).to_contain_text("Gives a tracking number the order never showed")
    expect(reviewer.locator(f"tr[data-run='{unflagged['id']}']")).to_have_count(0)
    reviewer.screenshot(path=shots / "reviews.png", full_page=True)

    row.get_by_role("link").click()
    marked = reviewer.locator(f"#reply-{run['id']} mark.ungrounded")
    expect(marked).to_have_text(TRACKING)
    expect(reviewer.locator(f"#flags-{run['id']}")).to_contain_text("The customer said it did not help")
    golden = reviewer.locator(f"#golden-{run['id']}")
    golden.locator("summary").click()
    reviewer.screenshot(path=shots / "run-review.png", full_page=True)

    must = golden.get_by_role("group", name="Tools it must call")
    must.get_by_label("get order details").check()
    golden.get_by_role("group", name="Tools it must not call").get_by_label("cancel pending order").check()
    golden.get_by_label("Words the reply must contain").fill("W2611340")
    golden.get_by_label("What went wrong").fill("The tracking number was not the customer's")
    golden.get_by_role("button", name="Add to the golden cases").click()
    expect(reviewer.locator("#case-saved")).to_contain_text(".yaml")

    (written,) = cases_folder.iterdir()
    assert written.name in reviewer.locator("#case-saved").inner_text()
    out = tmp_path / "report"
    played = subprocess.run(
        [*SUPPORT_EVAL, "--cases", str(cases_folder), "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert played.returncode == 0, played.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["totals"]["tasks"] == 1 and report["totals"]["pass_rate"] == 1.0, report
