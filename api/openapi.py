"""The service's OpenAPI document, as committed in `docs/openapi.json` for front-end teams and client generators.

`support openapi --write` regenerates the file; `tests/api/test_openapi.py` fails when the app's spec and the
committed file differ, so a change to the contract is always a visible change to that file in review.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

COMMITTED_SPEC = Path("docs") / "openapi.json"
"""Relative to the repository's root."""
REGENERATE = "./dev support openapi --write"


def current_spec() -> dict[str, Any]:
    """The spec of the app as this build creates it. Building the app touches no database: the services are
    made in its lifespan, which this never starts."""
    from api.app import create_app

    return create_app().openapi()


def render(spec: dict[str, Any]) -> str:
    """Stable text: the same spec always gives the same bytes, so the committed file diffs cleanly."""
    return json.dumps(spec, indent=2, ensure_ascii=False) + "\n"
