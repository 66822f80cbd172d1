"""Identifiers the service gives its own records: a readable prefix and a random part."""

from __future__ import annotations

import uuid


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"
