"""One seeded store template per test module; every case the harness plays gets its own copy."""

from __future__ import annotations

import asyncio

import pytest

from agent.evals.harness import StoreTemplate


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> StoreTemplate:
    return asyncio.run(StoreTemplate.build(tmp_path_factory.mktemp("golden")))
