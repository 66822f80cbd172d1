"""Every regular expression of the offline model, timed on the worst text a customer can send: each pattern
applied to long runs of whitespace, punctuation, digits and its own keywords, at the maximum message size.

A pattern with quadratic behaviour takes seconds on these (a run of 8,000 spaces before a word that is not
there); a linear one takes a few milliseconds. The patterns are not listed here: they are the ones the package
compiles (`patterns.registered()`), and a module of the package that compiled a pattern of its own would escape
the check, so that is refused too.
"""

from __future__ import annotations

import ast
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import agent.models.offline as offline
from agent.models.offline import patterns
from api.settings import Settings

MAX_BYTES = int(Settings.model_fields["max_message_bytes"].default)
LIMIT_MS = 50.0
PACKAGE = Path(offline.__file__).parent
_RE_CALLS = {"compile", "search", "match", "fullmatch", "sub", "subn", "split", "findall", "finditer"}


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


REGISTERED = patterns.registered()


def test_the_offline_model_has_its_patterns_registered() -> None:
    # A sanity floor: the intents, slots, small talk and addresses all read through registered patterns.
    assert len(REGISTERED) > 50


@pytest.mark.parametrize("compiled", REGISTERED, ids=[f"{i}:{p.pattern[:40]}" for i, p in enumerate(REGISTERED)])
def test_every_pattern_is_linear_on_pathological_input_at_the_size_limit(compiled: re.Pattern[str]) -> None:
    slow = {}
    for name, text in [*GENERIC.items(), *keyword_inputs(compiled)]:
        assert len(text.encode()) <= MAX_BYTES or len(text) == MAX_BYTES
        spent = cost_ms(compiled, text)
        if spent >= LIMIT_MS:
            slow[name] = round(spent, 1)
    assert not slow, f"{compiled.pattern!r} takes over {LIMIT_MS} ms on: {slow}"


def test_no_module_of_the_offline_model_applies_a_pattern_it_did_not_register() -> None:
    """`re.search(r"...", text)` in a module would bypass the timing above: only `patterns.py` calls `re`."""
    offenders = []
    for path in sorted(PACKAGE.glob("*.py")):
        if path.name == "patterns.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "re"
                and node.func.attr in _RE_CALLS
            ):
                offenders.append(f"{path.name}:{node.lineno} re.{node.func.attr}")
    assert not offenders, f"compile these through agent.models.offline.patterns.pattern(): {offenders}"


def test_a_word_pair_is_found_as_the_pattern_with_anything_between_would() -> None:
    pair = patterns.InOrder(re.compile(r"\bship\b"), re.compile(r"\bto\b"))
    assert pair.search("please ship it to my office")
    assert pair.search("ship to")
    assert not pair.search("to ship")
    assert not pair.search("shipping it tomorrow")
