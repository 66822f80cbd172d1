"""Finding what the customer means among the records just read, from their own words.

Customers say "the headphones", "the blue one", "my Visa", "the card ending 3194"; they should never have
to type an item id or a payment method id. Each matcher scores the candidates by the words of the message
and returns every candidate that fits best, so the planner can act on one, or ask when several fit equally.
Typed ids still work: they match exactly.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from agent.models.offline.reading.patterns import pattern

_WORD = pattern(r"[a-z0-9]+(?:[-'][a-z0-9]+)*")
_IGNORED = frozenset({"the", "a", "an", "and", "of", "for", "my", "one", "with", "in", "to", "from", "card"})


def words_of(text: str) -> set[str]:
    """Lowercased words, each also in its singular form, so "shoes" finds "Running Shoes" and "shoe"."""
    found = set()
    for word in _WORD.findall(text.lower()):
        found.add(word)
        if len(word) > 3 and word.endswith("s"):
            found.add(word[:-1])
        if len(word) > 4 and word.endswith("es"):
            found.add(word[:-2])
    return found - _IGNORED


def _name_words(text: str) -> set[str]:
    return {w for w in words_of(text) if len(w) > 2}


def matching_items(items: list[dict[str, Any]], words: str) -> list[dict[str, Any]]:
    """The order's items the customer named: by a word of the item's name, then, among items of the same
    name, by the option values that tell them apart ("the black one")."""
    said = words_of(words)
    named = [item for item in items if _name_words(item["name"]) & said]
    if not named:
        return []
    by_product: dict[str, list[dict[str, Any]]] = {}
    for item in named:
        by_product.setdefault(item["name"], []).append(item)
    chosen: list[dict[str, Any]] = []
    for same_name in by_product.values():
        chosen.extend(_best(same_name, lambda item: len(_option_words(item.get("options", {})) & said)))
    return chosen


def _option_words(option_map: dict[str, Any]) -> set[str]:
    return words_of(" ".join(str(v) for v in option_map.values()))


def matching_variants(item: dict[str, Any], variants: Iterable[dict[str, Any]], words: str) -> list[dict[str, Any]]:
    """The available variants of `item`'s product that fit the options the customer asked for. Only values
    that differ from the item's own count: in "swap the black skillet for a red one", "black" is the old one.
    Among equal fits, the variants that keep more of the item's other options win: "in glass" keeps the size."""
    said = words_of(words)
    own = item.get("options", {})
    choices = [v for v in variants if v.get("available") and v["item_id"] != item["item_id"]]

    def fit(variant: dict[str, Any]) -> tuple[int, int]:
        changed = {k: v for k, v in variant.get("options", {}).items() if own.get(k) != v}
        return len(_option_words(changed) & said), len(variant.get("options", {})) - len(changed)

    scored = [(fit(v), v) for v in choices]
    best = max((score for score, _ in scored), default=(0, 0))
    return [v for score, v in scored if best[0] and score == best]


def matching_methods(methods: list[dict[str, Any]], words: str, kind: str | None) -> list[dict[str, Any]]:
    """Payment methods named by brand ("visa"), last digits ("3194"), or kind ("gift card", "credit card")."""
    said = words_of(words)
    exact = [m for m in methods if _method_marks(m) & said]
    if exact:
        return exact
    return [m for m in methods if kind is not None and m.get("source") == kind]


def _method_marks(method: dict[str, Any]) -> set[str]:
    marks = {str(method.get("id", "")).lower()}
    if method.get("brand"):
        marks.add(str(method["brand"]).lower())
    if method.get("last_four"):
        marks.add(str(method["last_four"]))
    if method.get("source") == "gift_card":
        marks.add(str(method.get("id", "")).rpartition("_")[2])
    return marks


def _best(candidates: list[dict[str, Any]], score: Any) -> list[dict[str, Any]]:
    scores = [score(c) for c in candidates]
    top = max(scores)
    return [c for c, s in zip(candidates, scores, strict=True) if s == top]
