"""What the service asks the model for, so that the benchmark's own servers (the peer, the floor) ask the same and
the fake reads requests of the same kind and size from all of them: the model, the answer's `max_tokens`, and the
store's seed records their tools answer from (the service's tool reads the same order record)."""

from __future__ import annotations

import json
from dataclasses import fields
from functools import cache
from pathlib import Path
from typing import Any

from agent.models.base import ModelRequest

MODEL = "claude-sonnet-4-6"
"""The Claude model every server of the benchmarks names (the service as `anthropic:` + this)."""

ANSWER_TOKENS: int = next(field.default for field in fields(ModelRequest) if field.name == "max_tokens")
"""The `max_tokens` the service asks Claude for (`agent.models.base.ModelRequest`)."""

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


@cache
def seed() -> dict[str, Any]:
    return json.loads((FIXTURES / "db.json").read_text())  # type: ignore[no-any-return]
