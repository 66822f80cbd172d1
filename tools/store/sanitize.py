"""Making arbitrary text storable in every database we support, and safe to show to a person.

PostgreSQL refuses NUL characters in text and JSON, and no database can store a lone UTF-16 surrogate, yet a
hostile model or customer can send both. What a model wrote is repaired: they are replaced (with U+FFFD and
'?'), never dropped silently. What an HTTP client sent is refused (`refuse_unstorable`), so the client learns of it.

What a person is shown (a customer's confirmation card, a reply, an approver's page) is passed through `visible`:
it drops the characters that change how the rest of a line reads without being seen themselves. A right-to-left
override (U+202E) makes "refund $5 to gift_card_1" read differently than it is stored; zero-width characters and
Unicode tag characters hide words from the eye (and pass them to a model). Stored text keeps them, for the record.
"""

from __future__ import annotations

from typing import Any

import orjson

_INVISIBLE_RANGES = (
    (0x00, 0x08),  # C0 controls, but tab and line feed
    (0x0B, 0x1F),
    (0x7F, 0x9F),  # DEL and the C1 controls
    (0xAD, 0xAD),  # soft hyphen
    (0x061C, 0x061C),  # Arabic letter mark
    (0x180E, 0x180E),  # Mongolian vowel separator
    (0x200B, 0x200B),  # zero-width space (ZWNJ and ZWJ, U+200C-D, stay: scripts and emoji need them)
    (0x200E, 0x200F),  # left-to-right and right-to-left marks
    (0x202A, 0x202E),  # bidi embeddings and overrides
    (0x2060, 0x2064),  # word joiner, invisible operators
    (0x2066, 0x206F),  # bidi isolates, deprecated format characters
    (0xFEFF, 0xFEFF),  # zero-width no-break space
    (0xFFF9, 0xFFFB),  # interlinear annotation
    (0x1BCA0, 0x1BCA3),  # shorthand format controls
    (0x1D173, 0x1D17A),  # musical format controls
    (0xE0001, 0xE0001),  # language tag
    (0xE0020, 0xE007F),  # tag characters
)
_DROPPED: dict[int, None] = {code: None for low, high in _INVISIBLE_RANGES for code in range(low, high + 1)}


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


def storable_json(value: Any) -> Any:
    """`value` itself when it is storable as it is, else `clean_json(value)`: for a value only read afterwards (a
    run's transcript as it is stored, a request's history as it is sent), where a copy of every string and container
    of it, on every model call and every close, was wasted work. Whether it is storable is checked by encoding it in
    C: the encoder refuses a lone surrogate (and a key that is not a string), and writes a NUL as an escape."""
    try:
        if b"\\u0000" not in orjson.dumps(value):
            return value
    except orjson.JSONEncodeError:
        pass
    return clean_json(value)


def refuse_unstorable(value: str) -> str:
    """The validator form, for input that can still be sent back: a NUL or a lone surrogate is refused with a
    reason instead of repaired, so what is stored (and what the model is sent) is exactly what was written."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    if not value.isascii() and any("\ud800" <= ch <= "\udfff" for ch in value):
        raise ValueError("must not contain unpaired UTF-16 surrogates (such as \\ud800)")
    return value


def visible(text: str) -> str:
    """`text` as a person should see it: without bidi controls, zero-width and other invisible format characters,
    or control characters other than tab and line feed. Linear in the text's length."""
    if text.isascii() and text.isprintable():
        return text
    return text.translate(_DROPPED)


def visible_json(value: Any) -> Any:
    """A copy of a JSON-like value (a held call's arguments) with every string passed through `visible`."""
    if isinstance(value, str):
        return visible(value)
    if isinstance(value, dict):
        return {visible(str(k)): visible_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [visible_json(v) for v in value]
    return value
