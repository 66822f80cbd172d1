"""Questions about the seed data, answered from `fixtures/db.json` itself, so tests state their premises."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

Order = dict[str, Any]


@cache
def store() -> dict[str, Any]:
    return json.loads((FIXTURES / "db.json").read_text())  # type: ignore[no-any-return]


@cache
def tasks() -> list[dict[str, Any]]:
    return json.loads((FIXTURES / "tasks_train.json").read_text())  # type: ignore[no-any-return]


def order(order_id: str) -> Order:
    return store()["orders"][order_id]  # type: ignore[no-any-return]


def user(user_id: str) -> dict[str, Any]:
    return store()["users"][user_id]  # type: ignore[no-any-return]


def first_order(predicate: Callable[[Order], bool]) -> Order:
    return next(o for o in store()["orders"].values() if predicate(o))


def paid_with(o: Order, source: str) -> bool:
    return str(o["payment_history"][0]["payment_method_id"]).startswith(source)


def gift_cards(user_id: str) -> dict[str, float]:
    return {k: v["balance"] for k, v in user(user_id)["payment_methods"].items() if v["source"] == "gift_card"}


def other_variant(item: dict[str, Any], *, available: bool = True) -> dict[str, Any]:
    """Another variant of the item's product with the given availability."""
    variants = store()["products"][item["product_id"]]["variants"].values()
    return next(v for v in variants if v["item_id"] != item["item_id"] and v["available"] is available)


def foreign_order(user_id: str) -> Order:
    """An order that belongs to someone else."""
    return first_order(lambda o: o["user_id"] != user_id)


def affordable_swap(status: str = "pending") -> tuple[Order, dict[str, Any], dict[str, Any]]:
    """An order paid by gift card, one of its items, and another available variant the card can pay for."""
    for candidate in store()["orders"].values():
        if candidate["status"] != status or not paid_with(candidate, "gift_card"):
            continue
        card = candidate["payment_history"][0]["payment_method_id"]
        balance = gift_cards(candidate["user_id"])[card]
        for item in candidate["items"]:
            for variant in store()["products"][item["product_id"]]["variants"].values():
                difference = round(variant["price"] - item["price"], 2)
                if variant["item_id"] != item["item_id"] and variant["available"] and 0 < difference <= balance:
                    return candidate, item, variant
    raise LookupError("no such order in the fixture")
