"""A request to run a tool, as a model (or a test, or an approver) makes it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class ToolCall:
    """`arguments` is whatever arrived: usually a JSON object, but the policy engine copes with anything."""

    name: str
    arguments: Any
    id: str = ""
