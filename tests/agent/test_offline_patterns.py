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
from pathlib import Path

import pytest

import agent.models.offline as offline
from agent.models.offline.reading import patterns
from testkit.pathological_text import GENERIC, LIMIT_MS, MAX_BYTES, cost_ms, keyword_inputs

PACKAGE = Path(offline.__file__).parent
_RE_CALLS = {"compile", "search", "match", "fullmatch", "sub", "subn", "split", "findall", "finditer"}

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
    for path in sorted(PACKAGE.rglob("*.py")):
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
    assert not offenders, f"compile these through agent.models.offline.reading.patterns.pattern(): {offenders}"


def test_a_word_pair_is_found_as_the_pattern_with_anything_between_would() -> None:
    pair = patterns.InOrder(re.compile(r"\bship\b"), re.compile(r"\bto\b"))
    assert pair.search("please ship it to my office")
    assert pair.search("ship to")
    assert not pair.search("to ship")
    assert not pair.search("shipping it tomorrow")
