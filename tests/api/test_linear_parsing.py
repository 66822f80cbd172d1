"""The service's own reading of a customer's or a model's text (outside the offline model, which has its own check)
does work proportional to the text: every parser, on every pathological input at the largest message (8 KB),
finishes within 50 ms, where a pattern that rescans (as the traces' email mask once did) takes hundreds.

Timings on a shared machine move; the best of three runs is taken, and the bound sits two orders of magnitude
above what these parsers take (about 0.5 ms). `benchmarks/text_parsing.py` prints the figures."""

from __future__ import annotations

import time

import pytest

from testkit.text_parsers import PARSERS, pathological

MESSAGE_BYTES = 8192
BOUND_S = 0.050


@pytest.mark.parametrize("parser", sorted(PARSERS))
def test_each_parser_is_linear_on_pathological_text(parser: str) -> None:
    parse = PARSERS[parser]
    slow = {}
    for shape, text in pathological(MESSAGE_BYTES).items():
        best = min(_timed(parse, text) for _ in range(3))
        if best > BOUND_S:
            slow[shape] = round(best * 1000, 1)
    assert slow == {}, f"{parser} took these milliseconds on 8 KB of: {slow}"


def _timed(parse: object, text: str) -> float:
    started = time.perf_counter()
    parse(text)  # type: ignore[operator]
    return time.perf_counter() - started
