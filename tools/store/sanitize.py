"""Making arbitrary text storable in every database we support.

PostgreSQL refuses NUL characters in text and JSON, and no database can store a lone UTF-16 surrogate, yet a
hostile model or customer can send both. They are replaced (with U+FFFD and '?'), never dropped silently.
"""

from __future__ import annotations

from typing import Any


def clean_text(value: str) -> str:
    if value.isascii() and "\x00" not in value:
        return value
    return value.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")


def clean_json(value: Any) -> Any:
    """A copy of a JSON-like value with every string (keys included) made storable."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_text(str(k)): clean_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean_json(v) for v in value]
    return value
