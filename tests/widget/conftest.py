"""The widget's browser tests use the shared browser fixtures; the service runs with `/demo` switched on, as a
developer would run it to try the widget (the test secret is not the development secret)."""

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
    return {"SUPPORT_DEMO": "1"}
