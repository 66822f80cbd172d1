"""The store's seed records, as the benchmark's own servers answer their tools from them: the peer and the floor
hand the model the same order record the service's tool reads, so the fake reads requests of the same size."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


@cache
def seed() -> dict[str, Any]:
    return json.loads((FIXTURES / "db.json").read_text())  # type: ignore[no-any-return]
