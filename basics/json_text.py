"""JSON encoded and decoded in C where the service does it on every turn, with the standard library kept for what
the fast encoder refuses.

A turn stores its transcript, steps and feed events as JSON, reads its history back as JSON, and sends each model
request as a JSON body: with the standard library's encoder and decoder that was about a twentieth of a worker's
CPU under load. `orjson` does the same work several times faster. It is stricter than the standard library in a
few corners (a lone UTF-16 surrogate, an integer wider than 64 bits, a key that is not a string, a `NaN` literal
to read); such a value goes to the standard library instead, so it is stored, sent or refused as before. It is
laxer in one: a float that is not finite is written as `null`, where the standard library wrote `NaN` (which
PostgreSQL refuses, and the Messages API too) or raised. The loop already keeps such values out of what it stores
and sends (`agent.turn.tool_calls`); here they would no longer fail a write.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

_stdlib_compact = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def dumps(value: Any) -> str:
    """`value` as JSON text, for a database's JSON column (the standard library's escapes non-ASCII characters;
    this writes them as UTF-8: a JSON reader makes the same value of both)."""
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:
        return json.dumps(value)


def compact(value: Any) -> str:
    """`value` as JSON without spaces or escapes: a request body as the SDK would have encoded it."""
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:
        return _stdlib_compact(value)


def loads(text: str | bytes) -> Any:
    """`json.loads`, which also reads the `NaN` and `Infinity` the standard library may have written."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)
