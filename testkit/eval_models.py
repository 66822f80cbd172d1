"""The two models the golden suite runs on in CI, as harness targets."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from cli.eval.harness import Target
from testkit.fakes.offline_brain import OfflineBrainAPI

CI_MODELS = ("offline", "offline-via-messages-api")
"""Keys of the baseline's sections: the offline model itself, and its answers served by the fake Messages API
to the real SDK and the Anthropic adapter."""


@contextmanager
def ci_target(key: str) -> Iterator[Target]:
    if key == "offline":
        yield Target(model="offline")
        return
    with OfflineBrainAPI() as api:
        yield Target(
            model="anthropic:claude-sonnet-4-6",
            settings={
                "ANTHROPIC_API_KEY": "test-key",
                "ANTHROPIC_BASE_URL": api.base_url,
                "SUPPORT_MODEL_MAX_RETRIES": 0,
                "SUPPORT_MODEL_FALLBACKS": "",
            },
        )
        api.assert_done()
