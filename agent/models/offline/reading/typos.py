"""Intent words typed with a slip: "cancle", "retrun", "adress", "refnud".

A word the offline model keys on, mistyped by one edit (a transposition counts as one), still says what the
customer wants: the words of a message are compared with that short vocabulary by optimal string alignment
distance, and a close one is read as the word it misspells. Words of the vocabulary's own family ("returned",
"cancellation") and the few real words one edit away from it ("cancer") are left as they are; short words are
never corrected, since most four-letter words are one edit from another.
"""

from __future__ import annotations

from functools import lru_cache

from rapidfuzz import process
from rapidfuzz.distance import OSA

from agent.models.offline.reading.patterns import pattern

VOCABULARY = (
    "cancel", "return", "exchange", "refund", "address", "payment", "person", "human", "representative",
    "delivered", "package", "account", "damaged", "missing", "arrived", "received", "speak",
)  # fmt: skip
_REAL_WORDS = frozenset({"cancer", "refind", "parson", "arrives", "speck", "sneak", "steak", "spear", "kissing"})
_WORD = pattern(r"[a-z]{5,}")
MIN_LENGTH = 5


@lru_cache(maxsize=4096)
def spelled(word: str) -> str:
    """The vocabulary word `word` misspells, or `word` itself."""
    if word in _REAL_WORDS or any(word.startswith(known) for known in VOCABULARY):
        return word
    allowed = 2 if len(word) >= 9 else 1
    found = process.extractOne(word, VOCABULARY, scorer=OSA.distance, score_cutoff=allowed)
    return str(found[0]) if found is not None else word


def corrected(lowered: str) -> str:
    """The lowercased text with misspelt vocabulary words replaced; everything else unchanged."""
    return _WORD.sub(lambda match: spelled(match.group()), lowered)
