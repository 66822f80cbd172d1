"""Fixtures for the evaluation tests: one seeded store template per test module (every case the harness plays
gets its own copy), and the desk's browser fixtures (Debian's Chromium through pytest-playwright), shared rather
than copied."""

from __future__ import annotations

import asyncio

import pytest

from cli.eval.harness import StoreTemplate
from tests.desk.conftest import (  # noqa: F401 - fixtures are found by name
    browser,
    browser_context_args,
    browser_type_launch_args,
    chromium_path,
    playwright,
    shots,
)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> StoreTemplate:
    return asyncio.run(StoreTemplate.build(tmp_path_factory.mktemp("golden")))
