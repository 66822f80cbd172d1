"""Making arbitrary text storable in every database we support.

PostgreSQL refuses NUL characters in text and JSON, and no database can store a lone UTF-16 surrogate, yet a
hostile model or customer can send both. What a model wrote is repaired: they are replaced (with U+FFFD and
'?'), never dropped silently. What an HTTP client sent is refused (`refuse_unstorable`), so the client learns of it.
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


def refuse_unstorable(value: str) -> str:
    """The validator form, for input that can still be sent back: a NUL or a lone surrogate is refused with a
    reason instead of repaired, so what is stored (and what the model is sent) is exactly what was written."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    if not value.isascii() and any("\ud800" <= ch <= "\udfff" for ch in value):
        raise ValueError("must not contain unpaired UTF-16 surrogates (such as \\ud800)")
    return value
