"""`support serve`'s workers schedule the garbage collector for serving (`api.serving`); the app tests build keeps
the interpreter's defaults."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from api.serving import SERVING_THRESHOLDS, create_served_app


@pytest.fixture
def thresholds_restored() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.set_threshold(*before)


def test_a_served_app_collects_young_objects_less_often(
    thresholds_restored: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SUPPORT_JWT_SECRET", "serving-test-secret-0123456789abcdef")
    assert gc.get_threshold()[0] < SERVING_THRESHOLDS[0]
    app = create_served_app()
    assert gc.get_threshold() == SERVING_THRESHOLDS
    assert app.title
