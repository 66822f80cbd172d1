"""Browser fixtures shared by the browser tests of the desk and the widget: Debian's Chromium driven by
pytest-playwright, and the service as a real process. Each test package's conftest imports these and says, with
`live_service_env`, how its service is started.

Playwright's own browser download cannot work here, so the browser is the system's `chromium`, launched by its
path. Without one, the browser tests skip with a message that says how to get it, except in CI (`CI=true`),
where a missing Chromium is a failure: CI must run them.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Playwright, sync_playwright

from testkit.server import ServerProcess

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def find_chromium() -> str | None:
    candidates = [os.environ.get("SUPPORT_CHROMIUM"), shutil.which("chromium"), "/usr/bin/chromium"]
    return next((c for c in candidates if c and Path(c).is_file() and os.access(c, os.X_OK)), None)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    found = find_chromium()
    if found:
        return found
    message = "no Chromium found (install Debian's `chromium`, or set SUPPORT_CHROMIUM to its path)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message}: CI must run the browser tests")
    pytest.skip(f"browser tests skipped: {message}")


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any], chromium_path: str) -> dict[str, Any]:
    return {**browser_type_launch_args, "executable_path": chromium_path, "headless": True, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="module")
def playwright(chromium_path: str) -> Iterator[Playwright]:
    """Per module, not the plugin's per session: while the sync API is alive it keeps an event loop marked as
    running in this thread, which would stop every asyncio test collected after the browser tests."""
    with sync_playwright() as started:
        yield started


@pytest.fixture(scope="module")
def browser(playwright: Playwright, browser_type_launch_args: dict[str, Any]) -> Iterator[Browser]:
    launched = playwright.chromium.launch(**browser_type_launch_args)
    yield launched
    launched.close()


@pytest.fixture(scope="module")
def browser_context_args() -> dict[str, Any]:
    """A laptop screen. (The plugin's own version needs its session-wide Playwright, replaced above.)"""
    return {"viewport": {"width": 1366, "height": 900}}


@pytest.fixture
def shots(output_path: str) -> Path:
    """The test's output folder, where each page's screenshot is saved for a reviewer."""
    folder = Path(output_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def live_service(
    sqlite_url: str, tmp_path: Path, chromium_path: str, live_service_env: dict[str, str]
) -> Iterator[ServerProcess]:
    """`support serve` on a free port, with the package's `live_service_env` on top of the test settings."""
    server = ServerProcess(sqlite_url, tmp_path / "server.log", **live_service_env).start()
    try:
        yield server
    finally:
        server.stop()
