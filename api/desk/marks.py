"""The ungrounded parts of a reply, marked for the reviewer: the reply shown as text, with each flagged value it
states wrapped in `<mark>`.

Safety: the reply is made `visible` first (as every desk value is), then cut at the marks, and every piece is
HTML-escaped on its own before the markup joins them; no part of the reply or of a flag's value is ever markup.
Cost: each value is found with `str.find` (linear in the reply for the short values flags hold), and at most
`MAX_MARKED_VALUES` distinct values are looked for, so a run with many flags costs a bounded number of passes.
"""

from __future__ import annotations

from collections.abc import Iterable

from markupsafe import Markup, escape

from tools.store.sanitize import visible

MAX_MARKED_VALUES = 50
MAX_VALUE_LENGTH = 300
"""A flag's value is at most this long (`run_flags.value`); anything longer is not looked for."""


def spans(text: str, values: Iterable[str]) -> list[tuple[int, int]]:
    """Where the values occur in `text`: sorted, overlapping or touching spans merged."""
    found: list[tuple[int, int]] = []
    wanted = sorted({v for v in values if v and len(v) <= MAX_VALUE_LENGTH})[:MAX_MARKED_VALUES]
    for value in wanted:
        start = text.find(value)
        while start != -1:
            found.append((start, start + len(value)))
            start = text.find(value, start + len(value))
    found.sort()
    merged: list[tuple[int, int]] = []
    for start, end in found:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def marked(reply: str, values: Iterable[str]) -> Markup:
    """The reply as safe HTML with the flagged values in `<mark class="ungrounded">`."""
    text = visible(reply)
    pieces: list[str] = []
    at = 0
    for start, end in spans(text, (visible(v) for v in values)):
        pieces.append(str(escape(text[at:start])))
        pieces.append(f'<mark class="ungrounded">{escape(text[start:end])}</mark>')
        at = end
    pieces.append(str(escape(text[at:])))
    return Markup("".join(pieces))  # noqa: S704 - every piece above is escaped; only the <mark> tags are markup
