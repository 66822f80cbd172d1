"""Reading a postal address out of a customer's message, the ways customers write one.

Two shapes are understood, after the word "to" (or as the whole message):
- the store's own, which the assistant asks for: `street, [unit,] city, state, country, zip`, where state and
  zip may share a part ("TX 78701");
- the common US ones: `street, [unit,] city, ST 12345[, USA]`, with the city and state in one part or not
  ("Springfield IL 62701"), the state as its code or its name, a ZIP+4, and lines instead of commas.

Anything else is not an address: the planner asks again with the format rather than guess which part is the
city. The text is cut with string methods and one linear pattern, so a long run of commas costs one pass.
"""

from __future__ import annotations

import re

from agent.models.offline.reading.patterns import pattern

_AFTER_TO = pattern(r"\bto\b\s*+:?", re.IGNORECASE)
_COURTESY = pattern(r"(?<![\s,])[\s,]++(?:instead|please|thanks|thank you)[\s.!]*+$", re.IGNORECASE)
_ZIP = pattern(r"[0-9A-Za-z -]{3,12}")
_US_ZIP = pattern(r"\d{5}(?:-\d{4})?")
_KEYS = ("address1", "address2", "city", "state", "country", "zip")
_US = frozenset({"usa", "us", "u.s.", "u.s.a.", "united states", "united states of america", "america"})
US_STATES = {
    "alabama": "AL", "alaska": "AK", "arizona": "AZ", "arkansas": "AR", "california": "CA", "colorado": "CO",
    "connecticut": "CT", "delaware": "DE", "district of columbia": "DC", "florida": "FL", "georgia": "GA",
    "hawaii": "HI", "idaho": "ID", "illinois": "IL", "indiana": "IN", "iowa": "IA", "kansas": "KS",
    "kentucky": "KY", "louisiana": "LA", "maine": "ME", "maryland": "MD", "massachusetts": "MA", "michigan": "MI",
    "minnesota": "MN", "mississippi": "MS", "missouri": "MO", "montana": "MT", "nebraska": "NE", "nevada": "NV",
    "new hampshire": "NH", "new jersey": "NJ", "new mexico": "NM", "new york": "NY", "north carolina": "NC",
    "north dakota": "ND", "ohio": "OH", "oklahoma": "OK", "oregon": "OR", "pennsylvania": "PA",
    "rhode island": "RI", "south carolina": "SC", "south dakota": "SD", "tennessee": "TN", "texas": "TX",
    "utah": "UT", "vermont": "VT", "virginia": "VA", "washington": "WA", "west virginia": "WV",
    "wisconsin": "WI", "wyoming": "WY", "puerto rico": "PR", "guam": "GU",
}  # fmt: skip
_STATE_CODES = frozenset(US_STATES.values())
MAX_ADDRESS_CHARS = 300
"""Longer than any address: the text after "to" beyond this is not read as one."""


def read_address(text: str) -> dict[str, str] | None:
    tail = _AFTER_TO.split(text)[-1]
    if len(tail) > MAX_ADDRESS_CHARS:
        return None
    tail = _COURTESY.sub("", tail).replace("\n", ",")
    parts = [p.strip().rstrip(".") for p in tail.split(",")]
    parts = [p for p in parts if p]
    return _store_format(parts) or _us_format(parts)


def _store_format(parts: list[str]) -> dict[str, str] | None:
    if len(parts) in (4, 5) and (split := _state_and_zip(parts[-2])) is not None:
        # "city, TX 78701, USA": the state and zip share a part; the country comes last.
        parts = [*parts[:-2], split[0], parts[-1], split[1]]
    if len(parts) == 5:
        parts.insert(1, "")
    if len(parts) != 6 or not _ZIP.fullmatch(parts[5]) or not any(ch.isdigit() for ch in parts[5]):
        return None
    if parts[4].lower() in _US and (state := _state_code(parts[3])):
        parts[3] = state
    return dict(zip(_KEYS, parts, strict=True))


def _state_and_zip(part: str) -> tuple[str, str] | None:
    """ "TX 78701" -> ("TX", "78701"): the last word is the zip when it starts with a digit."""
    head, _, last = part.rpartition(" ")
    head = head.strip()
    if not head or not last[:1].isdigit() or not 3 <= len(last) <= 10:
        return None
    return head, last


def _us_format(parts: list[str]) -> dict[str, str] | None:
    """`street, [unit,] city, ST 12345[, USA]`, the city possibly in the state's part."""
    if parts and parts[-1].lower() in _US:
        parts = parts[:-1]
    if len(parts) >= 3 and _US_ZIP.fullmatch(parts[-1]):
        parts = [*parts[:-2], f"{parts[-2]} {parts[-1]}"]  # "Springfield, IL, 62701"
    if len(parts) < 2:
        return None
    words = parts[-1].split()
    if len(words) < 2 or not _US_ZIP.fullmatch(words[-1]):
        return None
    place = words[:-1]
    for size in (3, 2, 1):  # a state's name has up to three words ("district of columbia")
        state = _state_code(" ".join(place[-size:])) if len(place) >= size else None
        if state:
            city, streets = " ".join(place[:-size]), parts[:-1]
            break
    else:
        return None
    if not city:
        if len(streets) < 2:
            return None
        city, streets = streets[-1], streets[:-1]
    if not 1 <= len(streets) <= 2 or not any(ch.isdigit() for ch in streets[0]):
        return None
    street2 = streets[1] if len(streets) == 2 else ""
    return dict(zip(_KEYS, (streets[0], street2, city, state, "USA", words[-1]), strict=True))


def _state_code(words: str) -> str | None:
    cleaned = words.strip().rstrip(".")
    if cleaned.upper() in _STATE_CODES and len(cleaned) == 2:
        return cleaned.upper()
    return US_STATES.get(cleaned.lower())
