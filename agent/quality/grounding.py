"""Grounding: is every fact a model's reply states something the run actually saw?

A reply that names an order, a sum of money, a tracking number, a date, an item or a payment method the run never
looked up, or states a store rule (a time window, a refund timing, a fee) that no help-centre passage or store
instruction in the run says, is the hallucination signal a store wants to hear about. Each such fact becomes a
flag on the run (`agent.quality.flags.FlagKind.UNGROUNDED_*`) whose value is the fact as the reply states it.

What counts as seen (`Evidence`): the run's tool results (help-centre passages among them), the conversation's
messages (what the customer wrote, earlier answers), and the store's own instructions the model was shown (its
system prompt and tool descriptions, which state the store's policy). Facts are compared the way people write
them: amounts as cents (`$1,053.00` = `1053.0`), dates as calendar days (`May 3, 2024` = `2024-05-03`), and
records by the names a customer reads (`tools.naming`: "Mastercard ending 2478", "Water Bottle (1000ml, glass,
blue)"), built from the same tool results the model read.

Precision over recall: a detector only fires on text shaped like its fact ("tracking number 1Z…", "$12.00",
"within 30 days"), so an honest reply is not flagged for ordinary prose. Every pattern is linear in its input (no
nested repetition, bounded runs; `testkit/text_parsers.py` times them on 8 KB). What the run saw is scanned only
for the kinds of fact the reply states (`Evidence`): a reply stating none costs the scan of the reply alone.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from agent.quality.flags import FlagKind
from tools import naming

MAX_VALUE = 300
"""A flag's value is at most this long (the column's size)."""

_ORDER = re.compile(r"(?<![A-Za-z0-9])#?W(\d{7})(?![0-9])")
_MONEY = re.compile(r"\$\s?(\d{1,3}(?:,\d{3})+|\d{1,12})(?:\.(\d{1,2}))?(?![0-9])")
_NUMBER = re.compile(r"(?<![0-9.])(\d{1,3}(?:,\d{3})+|\d{1,12})(?:\.(\d{1,6}))?(?![0-9])")
_TRACKING = re.compile(
    r"\btracking(?: number| id| code| no\.?)?s?(?: is| are)?:?[ \t]{1,4}([A-Za-z0-9]{6,40})\b", re.IGNORECASE
)
_LONG_NUMBER = re.compile(r"(?<![A-Za-z0-9#])(\d{9,30})(?![A-Za-z0-9])")
"""A bare run of nine digits or more: in a reply, a parcel's number (the store's other long numbers, item and
product ids, are never shown to a customer)."""
_TOKEN = re.compile(r"[A-Za-z0-9]{6,40}")
_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ),
        start=1,
    )
    for name in names
}
_MONTH = "(" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_ISO_DATE = re.compile(r"(?<![0-9])(\d{4})-(\d{2})-(\d{2})(?![0-9])")
_MONTH_FIRST = re.compile(rf"\b{_MONTH} (\d{{1,2}})(?:st|nd|rd|th)?,? (\d{{4}})\b", re.IGNORECASE)
_DAY_FIRST = re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)? (?:of )?{_MONTH},? (\d{{4}})\b", re.IGNORECASE)
_PAYMENT = re.compile(r"\b([A-Z][A-Za-z]{1,20}(?: [A-Z][A-Za-z]{1,20})?) ending (?:in )?(\d{4})(?![0-9])")
_ITEM = re.compile(r"\b([A-Z][A-Za-z0-9'&-]{0,30}(?: [A-Z][A-Za-z0-9'&-]{0,30}){0,4}) \(([^()\n]{1,160})\)")
_WINDOW = re.compile(
    r"\b(\d{1,3})(?:[ \t]?(?:-|–|to)[ \t]?(\d{1,3}))?[ \t-](?:(business|working|calendar)[ \t])?"
    r"(hour|day|week|month)s?\b",
    re.IGNORECASE,
)
_POLICY_WINDOW = re.compile(
    r"\b(?:within|in|takes?|take up|up to|after|of|about|allow|around)[ \t](?:the[ \t])?(?:first[ \t])?"
    r"((\d{1,3})(?:[ \t]?(?:-|–|to)[ \t]?(\d{1,3}))?[ \t-](?:(business|working|calendar)[ \t])?"
    r"(hour|day|week|month)s?)\b",
    re.IGNORECASE,
)
_FEE = re.compile(
    r"\b((?:restocking|cancellation|return|shipping|handling|exchange|processing|service|late)[ \t]fees?)\b",
    re.IGNORECASE,
)

PATTERNS: dict[str, re.Pattern[str]] = {
    "order id": _ORDER,
    "money": _MONEY,
    "number": _NUMBER,
    "tracking": _TRACKING,
    "long number": _LONG_NUMBER,
    "token": _TOKEN,
    "iso date": _ISO_DATE,
    "month-first date": _MONTH_FIRST,
    "day-first date": _DAY_FIRST,
    "payment method": _PAYMENT,
    "item": _ITEM,
    "window": _WINDOW,
    "policy window": _POLICY_WINDOW,
    "fee": _FEE,
}
"""Every pattern this module reads text with, for the linear-time check (`testkit/text_parsers.py`)."""


@dataclass(frozen=True, slots=True)
class Ungrounded:
    """A fact a reply states that nothing the run saw supports."""

    kind: FlagKind
    stated: str
    """The fact as the reply states it (a flag's value)."""


def _cents(whole: str, fraction: str | None) -> int | None:
    """An amount in cents, or None for a number that is no amount of money (more than two non-zero decimals).
    Integer arithmetic: evidence holds thousands of numbers, and this runs for each."""
    digits = (fraction or "").rstrip("0")
    if len(digits) > 2:
        return None
    return int(whole.replace(",", "")) * 100 + int((digits + "00")[:2])


def _day(year: str, month: int, day: str) -> str | None:
    try:
        return date(int(year), month, int(day)).isoformat()
    except ValueError:
        return None


def dates_in(text: str) -> Iterator[tuple[str, str]]:
    """(as written, ISO day) for each calendar date with a year in `text`."""
    for m in _ISO_DATE.finditer(text):
        if (day := _day(m[1], int(m[2]), m[3])) is not None:
            yield m[0], day
    for m in _MONTH_FIRST.finditer(text):
        if (day := _day(m[3], _MONTHS[m[1].lower()], m[2])) is not None:
            yield m[0], day
    for m in _DAY_FIRST.finditer(text):
        if (day := _day(m[3], _MONTHS[m[2].lower()], m[1])) is not None:
            yield m[0], day


def _window_key(low: str, high: str | None, kind: str | None, unit: str) -> str:
    business = "business " if kind and kind.lower() in ("business", "working") else ""
    span = f"{int(low)}-{int(high)}" if high else str(int(low))
    return f"{span} {business}{unit.lower()}"


class Evidence:
    """What a run saw, indexed by the keys facts are compared on.

    Indexed lazily, one kind of fact at a time: a reply is checked only against the kinds of fact it states, and
    most replies state few (an order's status names no sum, date or card), so the texts are scanned only for those.
    Each index is built once per `Evidence` and kept, so the store's instructions (one `Evidence` per prompt
    version, `merge`d into each run's) are scanned once for each kind over the life of the process."""

    __slots__ = ("_all_texts", "_indexes", "_parts", "_records", "_texts")

    def __init__(self, texts: Iterable[str] = (), records: Iterable[Any] = (), *, parts: Iterable[Evidence] = ()):
        self._texts = list(texts)
        """Messages, tool results as JSON, passages, instructions."""
        self._records = list(records)
        """Tool results as records."""
        self._parts = tuple(parts)
        self._indexes: dict[str, set[Any]] = {}
        self._all_texts: list[str] | None = None

    def _index(self, kind: str, scan: Callable[[Evidence], set[Any]]) -> set[Any]:
        index = self._indexes.get(kind)
        if index is None:
            index = scan(self)
            for part in self._parts:
                index |= part._index(kind, scan)
            self._indexes[kind] = index
        return index

    @property
    def orders(self) -> set[str]:
        return self._index("orders", lambda e: {m[1] for text in e.scanned() for m in _ORDER.finditer(text)})

    @property
    def amounts(self) -> set[int]:
        return self._index("amounts", _amounts_in)

    @property
    def tokens(self) -> set[str]:
        return self._index("tokens", lambda e: {m[0].upper() for text in e.scanned() for m in _TOKEN.finditer(text)})

    @property
    def dates(self) -> set[str]:
        return self._index("dates", lambda e: {day for text in e.scanned() for _, day in dates_in(text)})

    @property
    def windows(self) -> set[str]:
        return self._index("windows", _windows_in)

    @property
    def names(self) -> set[str]:
        """Lower-cased: item and payment-method names as `tools.naming` makes them, and phrases seen in the text."""
        return self._index("names", _names_in)

    @property
    def fees(self) -> set[str]:
        return self._index("fees", lambda e: {_fee_key(m[1]) for text in e.scanned() for m in _FEE.finditer(text)})

    def scanned(self) -> list[str]:
        """Every text this evidence reads: its texts, and its records as JSON (made once, on first need)."""
        if self._all_texts is None:
            dumped = [json.dumps(record, ensure_ascii=False, default=str) for record in self._records]
            self._all_texts = self._texts + dumped
        return self._all_texts

    def merge(self, other: Evidence) -> Evidence:
        """Both as one; neither is scanned until a kind of fact is asked for, and each keeps its own indexes."""
        return Evidence(parts=(self, other))


def _amounts_in(seen: Evidence) -> set[int]:
    amounts: set[int] = set()
    for text in seen.scanned():
        for m in _NUMBER.finditer(text):
            if (cents := _cents(m[1], m[2])) is not None:
                amounts.add(cents)
    return amounts


def _windows_in(seen: Evidence) -> set[str]:
    return {_window_key(m[1], m[2], m[3], m[4]) for text in seen.scanned() for m in _WINDOW.finditer(text)}


def _names_in(seen: Evidence) -> set[str]:
    names: set[str] = set()
    for text in seen.scanned():
        for m in _PAYMENT.finditer(text):
            names.update(f"{words} ending {m[2]}" for words in _tails(m[1]))
        names.update(f"{m[1]} ({m[2]})".lower() for m in _ITEM.finditer(text))
    for record in seen._records:
        _record_names(record, names)
    for text in seen._texts:
        if text.lstrip()[:1] in ("{", "["):  # a tool result as text: its records are named too
            with contextlib.suppress(ValueError, RecursionError):  # clipped or odd: its text was read above
                _record_names(json.loads(text), names)
    return names


def _record_names(value: Any, names: set[str], depth: int = 0) -> None:
    """Add the names a customer would read for the store records in a tool result (items by product and options,
    payment methods by brand and last four), as `tools.naming` makes them."""
    if depth > 12:
        return
    if isinstance(value, Mapping):
        if "source" in value and ("last_four" in value or "balance" in value or value.get("source")):
            names.add(naming.payment_method(value).lower())
            names.add(naming.payment_method(value, balance=False).lower())
        if isinstance(value.get("name"), str) and isinstance(value.get("options"), Mapping):
            names.add(naming.item(value).lower())
        if isinstance(value.get("name"), str) and isinstance(value.get("variants"), Mapping):
            for variant in value["variants"].values():  # a product's variants, named as its items would be
                if isinstance(variant, Mapping) and isinstance(variant.get("options"), Mapping):
                    names.add(naming.item({"name": value["name"], "options": variant["options"]}).lower())
        if isinstance(value.get("options"), Mapping) and "item_id" in value:
            names.add(naming.option_values(value["options"]).lower())
        for inner in value.values():
            _record_names(inner, names, depth + 1)
    elif isinstance(value, list):
        for inner in value:
            _record_names(inner, names, depth + 1)


def _fee_key(phrase: str) -> str:
    return phrase.lower().split()[0]


def evidence_of(texts: Iterable[str], records: Iterable[Any] = ()) -> Evidence:
    """The evidence of some texts and some JSON records (a tool result as text is read as a record too)."""
    return Evidence(texts, records)


def check(reply: str, seen: Evidence, *, items: frozenset[str] = frozenset()) -> list[Ungrounded]:
    """The facts `reply` states that `seen` does not support, in the order found, each once. `items` are the
    store's product names (lower-cased): a parenthesised phrase is an item only after one of them, so prose in
    brackets is never taken for a product."""
    found: dict[tuple[FlagKind, str], Ungrounded] = {}

    def flag(kind: FlagKind, stated: str) -> None:
        found.setdefault((kind, stated), Ungrounded(kind, stated.strip()[:MAX_VALUE]))

    for m in _ORDER.finditer(reply):
        if m[1] not in seen.orders:
            flag(FlagKind.UNGROUNDED_ORDER, m[0])
    for m in _MONEY.finditer(reply):
        cents = _cents(m[1], m[2])
        if cents is not None and cents not in seen.amounts:
            flag(FlagKind.UNGROUNDED_AMOUNT, m[0])
    tracking = {m[1].upper(): m[1] for m in _TRACKING.finditer(reply) if any(c.isdigit() for c in m[1])}
    tracking.update({m[1]: m[1] for m in _LONG_NUMBER.finditer(reply)})
    for token, stated in tracking.items():
        if token not in seen.tokens:
            flag(FlagKind.UNGROUNDED_TRACKING, stated)
    for stated, day in dates_in(reply):
        if day not in seen.dates:
            flag(FlagKind.UNGROUNDED_DATE, stated)
    for m in _PAYMENT.finditer(reply):
        if not any(f"{words} ending {m[2]}" in seen.names for words in _tails(m[1])):
            flag(FlagKind.UNGROUNDED_PAYMENT, m[0])
    for m in _ITEM.finditer(reply):
        named = _product_named(m[1], items)
        if named is not None and f"{named} ({m[2]})".lower() not in seen.names:
            flag(FlagKind.UNGROUNDED_ITEM, f"{named} ({m[2]})")
    for m in _POLICY_WINDOW.finditer(reply):
        if _window_key(m[2], m[3], m[4], m[5]) not in seen.windows:
            flag(FlagKind.UNGROUNDED_POLICY, m[1])
    for m in _FEE.finditer(reply):
        if _fee_key(m[1]) not in seen.fees:
            flag(FlagKind.UNGROUNDED_POLICY, m[1])
    return list(found.values())


def _tails(phrase: str) -> list[str]:
    """ "Your Mastercard" → ["your mastercard", "mastercard"]: the name with the words before it dropped."""
    words = phrase.lower().split(" ")
    return [" ".join(words[start:]) for start in range(len(words))]


def _product_named(phrase: str, items: frozenset[str]) -> str | None:
    """The product name `phrase` ends with ("the Water Bottle" → "Water Bottle"), if it is one the store sells."""
    words = phrase.split(" ")
    for start in range(len(words)):
        candidate = " ".join(words[start:])
        if candidate.lower() in items:
            return candidate
    return None
