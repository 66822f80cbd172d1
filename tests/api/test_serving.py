"""How `support serve` builds each worker's app: configured from the environment, its start-up heap frozen."""

from __future__ import annotations

import gc

import pytest

from api.cli import served_app
from tests.support.service import TEST_SECRET


async def test_a_served_worker_freezes_what_start_up_built_and_a_test_app_does_not(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    monkeypatch.setenv("SUPPORT_JWT_SECRET", TEST_SECRET)
    monkeypatch.setenv("SUPPORT_MODEL", "offline")
    gc.unfreeze()
    app = served_app()
    assert gc.get_freeze_count() == 0  # building the app freezes nothing: start-up is not over
    try:
        async with app.router.lifespan_context(app):
            assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()  # this test process is not a served worker
