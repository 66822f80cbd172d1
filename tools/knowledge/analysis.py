"""From text to search terms: the same steps for an article's passages and for a customer's question.

Words are lowercased, split on anything that is not a letter or digit, stripped of function words (English, and
the Spanish and German ones some customers write in), and reduced to their Snowball stem, so "returning",
"returned" and "returns" are one term. A few everyday words customers use for what the articles call by another
name ("parcel" for package, "money back" for refund) are read as that name.

Stems come from the `snowballstemmer` package (the Snowball project's own algorithms, pure Python); a word that
is not English passes through the English stemmer mostly unchanged, which is what we want for "reembolso".
"""

from __future__ import annotations

import re
from functools import lru_cache

import snowballstemmer

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
MAX_QUERY_WORDS = 32
_STOP_WORDS = (
    "a an and are as at be been but by can could did do does doing for from had has have how i i'm if in into is "
    "it its me my no not of on or our so than that the their them then there these they this to too us was we "
    "were what when where which who why will with would you your yours hi hello please thanks thank just "
    "s t d ll m re ve don doesn didn isn wasn hasn haven cant can't im ive id also any some get got want "
    "stuff thing things something anything possible still even already know think really usually here now "
    "guys ok okay yes hey able let lets need about out go goes going say says put all "
    "el la los las de del que en y un una mi mis tu por para con es se lo al me hay como cómo puedo "
    "cuál cual su sus qué quien cuando cuándo donde dónde este esta esto ese esa hace tengo tiene tienen puede "
    "pueden sobre hasta desde muy más pero si ya cuánto cuanto cuánta cuanta "
    "der die das den dem des und ich mein meine meinen ist es zu nicht ein eine auch auf für mit wie was wo kann "
    "bei euch ihr ihnen sie wir uns unser mir mich dir dich hat habe haben wird werden können soll noch schon "
    "nur wenn dann oder aber über vor aus um"
)
STOP = frozenset(_STOP_WORDS.split(" "))
# Customers' words for what the articles name otherwise. Kept short: each one is a word a customer would use
# and no article does, read as the article's word.
SYNONYMS = {
    "parcel": "package",
    "parcels": "package",
    "shipment": "package",
    "delivery": "shipping",
    "deliveries": "shipping",
    "deliver": "ship",
    "delivered": "delivered",
    "giftcard": "gift card",
    "giftcards": "gift card",
    "info": "data",
    "information": "data",
    "phone": "phone call",
    "telephone": "phone call",
    "cancellation": "cancel",
    "cancelation": "cancel",
    "busted": "broken",
    "smashed": "broken",
    "cracked": "broken damaged",
    "dented": "damaged",
    "late": "delay",
    "quickly": "fast",
    "days": "day time",
    "weeks": "week time",
    "months": "month time",
    "long": "long time",
    # The question words of Spanish and German questions, read as the English the articles use.
    "tarda": "time",
    "tardan": "time",
    "dauert": "time",
    "lange": "long time",
    "política": "policy",
    "funktioniert": "work",
}
_STEMMER = snowballstemmer.stemmer("english")


@lru_cache(maxsize=16384)
def stem(word: str) -> str:
    return str(_STEMMER.stemWord(word))


def words(text: str) -> list[str]:
    """The text's content words, lowercased, in order (with repeats): what a reader would underline."""
    return [w for w in (m.lower() for m in _WORD.findall(text)) if w not in STOP and len(w) > 1]


def terms(text: str) -> list[str]:
    """The stemmed terms of a passage's text, with repeats: term frequency counts."""
    out: list[str] = []
    for word in words(text):
        for each in SYNONYMS.get(word, word).split(" "):
            out.append(stem(each))
    return out
