"""The tool contract: names, arguments, effects, and schemas the model sees."""

from __future__ import annotations

import json

import pytest

from tools import registry
from tools.errors import InvalidArguments, UnknownTool
from tools.registry import Effect

CONTRACT = {
    "get_customer_profile": ([], Effect.READ),
    "get_order_details": (["order_id"], Effect.READ),
    "get_product_details": (["product_id"], Effect.READ),
    "list_product_types": ([], Effect.READ),
    "cancel_pending_order": (["order_id", "reason"], Effect.MONEY),
    "modify_pending_order_address": (
        ["order_id", "address1", "address2", "city", "state", "country", "zip"],
        Effect.WRITE,
    ),
    "modify_pending_order_payment": (["order_id", "payment_method_id"], Effect.MONEY),
    "modify_pending_order_items": (["order_id", "item_ids", "new_item_ids", "payment_method_id"], Effect.MONEY),
    "return_delivered_order_items": (["order_id", "item_ids", "payment_method_id"], Effect.MONEY),
    "exchange_delivered_order_items": (["order_id", "item_ids", "new_item_ids", "payment_method_id"], Effect.MONEY),
    "modify_customer_address": (["address1", "address2", "city", "state", "country", "zip"], Effect.WRITE),
    "issue_refund": (["order_id", "amount", "reason"], Effect.MONEY),
    "transfer_to_human_agents": (["summary"], Effect.READ),
    "search_help_centre": (["query"], Effect.READ),
}


def test_registry_holds_exactly_the_contract_tools() -> None:
    assert {spec.name for spec in registry} == set(CONTRACT)
    for spec in registry:
        arguments, effect = CONTRACT[spec.name]
        assert sorted(spec.input_schema["properties"]) == sorted(arguments), spec.name
        assert spec.effect is effect, spec.name
        assert spec.description, spec.name


def test_no_tool_lets_the_model_name_a_customer() -> None:
    for spec in registry:
        text = json.dumps(spec.input_schema).lower()
        assert "user_id" not in text and "customer_id" not in text, spec.name


def test_only_the_handoff_ends_a_run() -> None:
    assert [spec.name for spec in registry if spec.ends_run] == ["transfer_to_human_agents"]


def test_definitions_are_stable_byte_for_byte() -> None:
    """The tool list is part of the cached prompt prefix; it must not change between turns."""
    assert json.dumps(registry.definitions()) == json.dumps(registry.definitions())
    schema = registry.get("cancel_pending_order").input_schema
    assert schema["properties"]["reason"]["enum"] == ["no longer needed", "ordered by mistake"]
    assert schema["additionalProperties"] is False


@pytest.mark.parametrize(
    ("name", "arguments", "problem_field"),
    [
        ("get_order_details", {}, "order_id"),
        ("get_order_details", {"order_id": "12345"}, "order_id"),
        ("get_order_details", {"order_id": "#W1234567", "user_id": "x"}, "user_id"),
        ("issue_refund", {"order_id": "#W1234567", "amount": -1, "reason": "x"}, "amount"),
        ("issue_refund", {"order_id": "#W1234567", "amount": 1.005, "reason": "x"}, "amount"),
        ("issue_refund", {"order_id": "#W1234567", "amount": 5, "reason": "   "}, "reason"),
        (
            "modify_pending_order_items",
            {
                "order_id": "#W1234567",
                "item_ids": ["1234567890"],
                "new_item_ids": [],
                "payment_method_id": "gift_card_1",
            },
            "new_item_ids",
        ),
        ("cancel_pending_order", {"order_id": "#W1234567", "reason": "changed my mind"}, "reason"),
        (
            "modify_customer_address",
            {
                "address1": "1 Main\u0000St",
                "address2": "",
                "city": "Austin",
                "state": "TX",
                "country": "USA",
                "zip": "73301",
            },
            "address1",
        ),
        ("transfer_to_human_agents", {"summary": "help \ud800"}, "summary"),
    ],
)
def test_bad_arguments_name_the_field(name: str, arguments: dict[str, object], problem_field: str) -> None:
    with pytest.raises(InvalidArguments) as caught:
        registry.get(name).parse(arguments)
    fields = [p["field"] for p in caught.value.details["problems"]]
    assert any(f.startswith(problem_field) for f in fields), fields


def test_order_ids_are_normalised() -> None:
    for written in ("W2611340", "#W2611340", " w2611340 "):
        assert registry.get("get_order_details").parse({"order_id": written}).order_id == "#W2611340"  # type: ignore[attr-defined]


def test_unknown_tool() -> None:
    with pytest.raises(UnknownTool):
        registry.get("drop_tables")
