"""Every place outside the offline model where the service reads a customer's or a model's text with a pattern or
a parser, and the inputs that make a careless pattern's work grow faster than the text: long runs of one kind of
character (whitespace, punctuation, digits, letters), and repeated fragments of what the patterns look for.
Shared by the timing check (tests/api/test_linear_parsing.py) and the benchmark (benchmarks/text_parsing.py)."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from typing import Any

from agent.quality import grounding
from agent.telemetry import masking
from agent.turn import window as context
from agent.turn.tool_calls import nesting_depth, well_formed
from api.inputs import event_id, form_amount, known_id_shape, message_text, note_text
from api.ops.logs import escape_controls
from tools.knowledge.keyword import KeywordIndex
from tools.store.money import parse_amount
from tools.store.sanitize import clean_text, refuse_unstorable, visible

MASKER = masking.Masker(["James Li", "12 Elm Street", "james@example.com", "Austin", "78701"])
HELP_CENTRE = KeywordIndex(
    [
        ("returns#window", "Returns: how long do I have", "Send an item back within the return window for a refund."),
        ("shipping#times", "Shipping: how long delivery takes", "Orders arrive in three to seven business days."),
    ],
    products=("Wireless Earbuds", "Hiking Boots"),
)
"""A small help centre: a query's cost (its words, their stems, the spelling correction against the index's
vocabulary) depends on the query, not on how many articles there are."""


def _quietly(parse: Callable[[str], Any]) -> Callable[[str], None]:
    """A parser run for its cost only: refusing the input (most of these do) is the expected answer."""

    def run(text: str) -> None:
        with contextlib.suppress(Exception):
            parse(text)

    return run


def _tool_call(text: str) -> None:
    from agent.models.base import ToolUseBlock

    well_formed(ToolUseBlock(id=text, name=text, input={"reason": text, "items": [text]}), set())
    nesting_depth({"reason": text}, 32)


PARSERS: dict[str, Callable[[str], None]] = {
    "masking (traces)": MASKER,
    "help-centre search": lambda text: HELP_CENTRE.search(text, 5) and None,
    "order ids in omitted history": lambda text: context._ORDER_ID.findall(text) and None,
    "amount (tools, API)": _quietly(parse_amount),
    "amount (desk form)": _quietly(form_amount),
    "note (API, desk)": _quietly(note_text),
    "message (API, desk)": _quietly(lambda text: message_text(text, 1 << 30)),
    "feed position": _quietly(lambda text: event_id(text, "after")),
    "path id": _quietly(lambda text: known_id_shape(text, "thing")),
    "storable text": _quietly(refuse_unstorable),
    "stored text repair": clean_text,
    "shown text": visible,
    "log line": escape_controls,
    "model tool call intake": _tool_call,
    "grounding (a reply and what its run saw)": lambda text: (
        grounding.check(text, grounding.evidence_of([text]), items=frozenset({"water bottle"})) and None
    ),
}
assert {p for p in vars(grounding).values() if isinstance(p, re.Pattern)} <= set(grounding.PATTERNS.values()), (
    "every pattern of the grounding check is in its PATTERNS, and so timed here"
)


def pathological(size: int) -> dict[str, str]:
    """Inputs of `size` characters that are slow for patterns with nested or overlapping repetition."""

    def fill(piece: str) -> str:
        return (piece * (size // len(piece) + 1))[:size]

    return {
        "spaces": fill(" "),
        "tabs and newlines": fill("\t\n"),
        "letters": fill("a"),
        "digits": fill("1"),
        "digits and spaces": fill("1 "),
        "digit groups": fill("12 34-"),
        "commas and spaces": fill(", "),
        "dots": fill("a."),
        "punctuation": fill("!?.,;:-()"),
        "underscored words": fill("gift_card_"),
        "at signs": fill("a@"),
        "almost an email": "a@b" + fill(".c")[: size - 3],
        "order id prefixes": fill("#W12"),
        "dollar amounts": fill("$1,2"),
        "repeated keywords": fill("refund cancel order "),
        "invisible characters": fill("\u202e\u200b"),
        "capitalised words": fill("Water Bottle "),
        "capital letters": fill("A"),
        "open brackets": fill("Bottle (a, "),
        "tracking words": fill("tracking number "),
        "time windows": fill("within 5 to 7 business "),
        "dates": fill("May 3, 2024 3 May "),
        "cards": fill("Visa Card ending "),
    }
