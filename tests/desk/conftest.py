"""The desk's browser tests use the shared browser fixtures; its service runs with a cookie that is not Secure only
because the browser speaks plain HTTP to 127.0.0.1 (the security tests check it is Secure by default)."""

from __future__ import annotations

import pytest

from testkit.browser import (  # noqa: F401 - fixtures, found by pytest under these names
    browser,
    browser_context_args,
    browser_type_launch_args,
    chromium_path,
    live_service,
    playwright,
    shots,
)


@pytest.fixture
def live_service_env() -> dict[str, str]:
    return {"SUPPORT_DESK_SECURE_COOKIE": "false"}
