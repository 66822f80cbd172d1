"""The worst text a customer can send, for timing the offline model's patterns: long runs of whitespace,
punctuation, digits and each pattern's own keywords, at the maximum message size. Shared by the linearity check
(tests/agent/test_offline_patterns.py) and its benchmark (benchmarks/offline_reading.py)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

from api.settings import Settings

MAX_BYTES = int(Settings.model_fields["max_message_bytes"].default)
LIMIT_MS = 50.0


def sized(unit: str) -> str:
    return (unit * (MAX_BYTES // len(unit) + 1))[:MAX_BYTES]


GENERIC = {
    "spaces": sized(" "),
    "tabs": sized("\t"),
    "line breaks": sized("\n"),
    "commas": sized(","),
    "commas and spaces": sized(", "),
    "address with a long run of commas": ("ship to 1 Main St" + sized(", "))[:MAX_BYTES],
    "digits": sized("1"),
    "digits and spaces": sized("1234567 "),
    "dots": sized("."),
    "question marks": sized("?"),
    "punctuation": sized(" \t,.;:!?-'#$"),
    "order-id prefixes": sized("#W"),
    "dollars": sized("$1 "),
    "spaces then a letter": sized(" ")[:-1] + "x",
    "words": sized("lorem ipsum "),
}


def keyword_inputs(compiled: re.Pattern[str]) -> Iterator[tuple[str, str]]:
    """Each word the pattern looks for, repeated, and followed by long runs of what usually comes after it."""
    for word in sorted(set(re.findall(r"[a-zà-ÿ']{2,}", compiled.pattern.lower()))):
        yield f"{word} repeated", sized(f"{word} ")
        yield f"{word} then spaces", (word + sized(" "))[:MAX_BYTES]
        yield f"{word} then commas", sized(f"{word}" + ", " * 20)
        yield f"{word} then digits", (word + " " + sized("7"))[:MAX_BYTES]


def cost_ms(compiled: re.Pattern[str], text: str) -> float:
    """The time of the pattern's most expensive uses on `text`: every match (as sub, split and findall scan),
    and a match anchored at the start. The best of two runs, so a pause of the machine is not blamed on it."""
    best = float("inf")
    for _ in range(2):
        started = time.perf_counter()
        for _ in compiled.finditer(text):
            pass
        compiled.match(text)
        compiled.fullmatch(text)
        best = min(best, (time.perf_counter() - started) * 1000)
        if best < LIMIT_MS:
            break
    return best
