"""The desk's browser fixtures (Debian's Chromium through pytest-playwright), shared rather than copied."""

from tests.desk.conftest import (  # noqa: F401 - fixtures are found by name
    browser,
    browser_context_args,
    browser_type_launch_args,
    chromium_path,
    playwright,
    shots,
)
