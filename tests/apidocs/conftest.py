"""The API documentation pages' browser tests use the shared browser fixtures and the service as it starts by
default."""

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
    return {}
