"""The HTML report of a real `support eval` run, opened in Chromium: the plots and tables a reader relies on."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.evals.live_script import TASK, fake_api, script_failing_trial, script_passing_trial, support_eval

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture(scope="module")
def report_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two tasks, two trials each: task 88 passes both, task 113 fails both (its agent refuses to help).
    Played in a thread of its own: the sync Playwright API keeps an event loop running in this one."""
    out = tmp_path_factory.mktemp("eval-report")
    codes: list[int] = []

    def play() -> None:
        with pytest.MonkeyPatch.context() as monkeypatch, fake_api() as api:
            for _ in range(2):  # trials run trial by trial, tasks in order, one at a time
                script_passing_trial(api)
                script_failing_trial(api)
            codes.append(
                support_eval(
                    monkeypatch,
                    api,
                    *("--task", TASK, "--task", "113", "--trials", "2", "--concurrency", "1"),
                    *("--max-cost-usd", "5", "--out", str(out)),
                )
            )
            api.assert_done()

    worker = threading.Thread(target=play)
    worker.start()
    worker.join(300)
    assert codes == [0]
    return out


def test_the_html_report_shows_the_plots_and_tables(report_folder: Path, page: Page, shots: Path) -> None:
    html = (report_folder / "report.html").read_text()
    assert not any(tag in html for tag in ("<script", "<link", "src=", "@import"))  # self-contained: no CDN
    fetched: list[str] = []
    page.on("request", lambda request: fetched.append(request.url))
    page.goto((report_folder / "report.html").as_uri())
    expect(page.locator("h1")).to_contain_text("anthropic:claude-sonnet-4-6")
    # ...but the answers came from the test's stand-in for the Messages API, and the page says so up front
    expect(page.locator("#stand-in")).to_contain_text("not from Anthropic")
    expect(page.locator("#model-api")).to_contain_text("http://127.0.0.1")
    totals = page.locator("#totals")
    expect(totals.locator("tr", has_text="pass^1")).to_contain_text("0.500")
    expect(totals.locator("tr", has_text="pass^2")).to_contain_text("0.500")
    expect(totals.locator("tr", has_text="approvals raised")).to_contain_text("2 (2)")
    rows = page.locator("#per-task tr")
    expect(rows).to_have_count(3)  # the header and two tasks
    expect(rows.nth(1)).to_contain_text("2 / 2")
    expect(rows.nth(2)).to_contain_text("0 / 2")
    expect(page.locator("#per-task tr.fail")).to_have_count(1)
    pass_bars = page.locator("#pass-plot svg rect.pass")
    expect(pass_bars).to_have_count(2)
    assert float(pass_bars.nth(0).get_attribute("height") or 0) > 0
    assert float(pass_bars.nth(1).get_attribute("height") or -1) == 0
    cost_bars = page.locator("#cost-plot svg rect.cost")
    expect(cost_bars).to_have_count(2)
    assert all(float(cost_bars.nth(i).get_attribute("height") or 0) > 0 for i in range(2))
    assert page.locator("#pass-plot svg").bounding_box() is not None
    assert fetched == [(report_folder / "report.html").as_uri()]
    page.screenshot(path=str(shots / "eval-report.png"), full_page=True)
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copyfile(shots / "eval-report.png", ARTIFACTS / "eval-report.png")
