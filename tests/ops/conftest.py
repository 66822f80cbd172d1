"""The ops checks share one scrape of the service's real `/metrics` (a process of its own, once per module)."""

from __future__ import annotations

from pathlib import Path

import pytest

from testkit import databases
from tests.ops.exported import scrape


@pytest.fixture(scope="module")
def exposition(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    return scrape(databases.sqlite_copy(sqlite_template, tmp_path_factory.mktemp("metrics")))
