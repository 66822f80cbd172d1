"""`storable_json` answers as `clean_json` does, without copying a value that needs no cleaning."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from tools.store.sanitize import clean_json, storable_json

ANY_TEXT = st.text(alphabet=st.characters(codec=None, categories=None), max_size=12)
"""Any code point, lone surrogates and NUL included."""

JSON_LIKE = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False) | ANY_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(ANY_TEXT | st.integers(0, 9), inner, max_size=4),
    max_leaves=20,
)


def as_stored(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


@given(JSON_LIKE)
def test_it_stores_what_clean_json_stores(value: Any) -> None:
    assert as_stored(storable_json(value)) == as_stored(clean_json(value))


def test_a_clean_value_comes_back_itself() -> None:
    transcript = [{"role": "user", "content": [{"type": "text", "text": "Où est ma commande ? 😀"}]}]
    assert storable_json(transcript) is transcript


def test_what_a_database_or_the_api_refuses_is_cleaned() -> None:
    assert storable_json({"text": "a\x00b"}) == {"text": "a\ufffdb"}
    assert storable_json({"text": "lone \ud800"}) == {"text": "lone ?"}
    assert storable_json({1: "a"}) == {"1": "a"}
    typed = {"text": "a typed \\u0000 is not a NUL"}
    assert storable_json(typed) == typed
