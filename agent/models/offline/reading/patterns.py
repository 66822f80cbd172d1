"""Every regular expression the offline model applies to a customer's words, compiled in one place.

A customer's message is untrusted input of up to `SUPPORT_MAX_MESSAGE_BYTES`, read on every turn by the model
that is the default and the last link of every fallback chain: one pattern that backtracks on a long run of
spaces or commas would let a single message hold a CPU for seconds. So every pattern is made here, through
`pattern()`, which keeps a list that the test suite walks (each pattern on long runs of whitespace, punctuation,
digits and repeated keywords, at the maximum message size); a module of the package that compiled its own
pattern would escape that check, and a test refuses it.

What keeps these patterns linear in the text's length:
- no unbounded repeat followed by something that can fail after it, unless a match can only start where the
  run starts (a lookbehind: `(?<![\\s,])[\\s,]+`): otherwise every position of a long run starts an attempt
  that scans the rest of the run;
- no `.*` between two words ("change ... size"): `InOrder` finds the first word, then the second after it,
  two passes over the text, instead of one attempt per occurrence of the first word that scans to the end.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_REGISTERED: list[re.Pattern[str]] = []


def pattern(source: str, flags: int = 0) -> re.Pattern[str]:
    compiled = re.compile(source, flags)
    _REGISTERED.append(compiled)
    return compiled


_CONTROLS = pattern(r"[\x00-\x08\x0b-\x1f]")


def without_controls(text: str) -> str:
    """The text with control characters (but tabs and line breaks) as spaces: fit for a summary or a query."""
    return _CONTROLS.sub(" ", text)


def registered() -> tuple[re.Pattern[str], ...]:
    """All patterns of the offline model: every module of the package is imported first, so none is missed."""
    import importlib
    import pkgutil

    import agent.models.offline as package

    for module in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
        importlib.import_module(module.name)
    return tuple(_REGISTERED)


@dataclass(frozen=True, slots=True)
class InOrder:
    """Words that must appear in this order, anything between: "change ... size", "ship ... to".

    Searching for the first, then for the second after the first's earliest match, finds exactly what
    `first.*second` would, in two linear passes."""

    first: re.Pattern[str]
    then: re.Pattern[str]

    def search(self, text: str) -> bool:
        found = self.first.search(text)
        return found is not None and self.then.search(text, found.end()) is not None


def in_order(first: str, then: str) -> InOrder:
    return InOrder(pattern(first), pattern(then))


Matcher = re.Pattern[str] | InOrder
"""Anything with a `search(text)` that says whether the text has it."""
