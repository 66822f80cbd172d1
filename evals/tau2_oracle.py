"""An independent, plain-dict reading of the store's write rules, used to predict a scenario's final data.

It follows the store data's README's description of each write literally and knows nothing of the service's code,
so agreement between the two is evidence, not a tautology. Amounts are handled in integer cents.
"""

from __future__ import annotations

from typing import Any

State = dict[str, Any]


def c(value: float) -> int:
    return round(value * 100)


def d(cents: int) -> float:
    return cents / 100


def _card(state: State, user_id: str, method_id: str) -> dict[str, Any] | None:
    method = state["users"][user_id]["payment_methods"][method_id]
    return method if method["source"] == "gift_card" else None


def _credit(state: State, user_id: str, method_id: str, cents: int) -> None:
    card = _card(state, user_id, method_id)
    if card is not None:
        card["balance"] = d(c(card["balance"]) + cents)


def _swap(state: State, order: dict[str, Any], item_ids: list[str], new_item_ids: list[str]) -> int:
    difference = 0
    variants = {v["item_id"]: v for p in state["products"].values() for v in p["variants"].values()}
    done: set[int] = set()
    for old, new in zip(item_ids, new_item_ids, strict=True):
        index = next(i for i, it in enumerate(order["items"]) if it["item_id"] == old and i not in done)
        done.add(index)
        difference += c(variants[new]["price"]) - c(order["items"][index]["price"])
    return difference


def refusal(state: State, user_id: str, name: str, args: dict[str, Any]) -> str | None:
    """The store rule a write breaks, if any: here only 'a gift card must cover what it pays'."""
    order = state["orders"].get(args.get("order_id", ""))
    method_id = args.get("payment_method_id")
    if order is None or method_id is None or _card(state, user_id, method_id) is None:
        return None
    balance = c(state["users"][user_id]["payment_methods"][method_id]["balance"])
    if name in ("modify_pending_order_items", "exchange_delivered_order_items"):
        owed = _swap(state, order, args["item_ids"], args["new_item_ids"])
    elif name == "modify_pending_order_payment":
        owed = c(order["payment_history"][0]["amount"])
    else:
        return None
    return "insufficient_balance" if owed > balance else None


def apply(state: State, user_id: str, name: str, args: dict[str, Any]) -> None:
    """Apply one expected write to `state` in place."""
    order = state["orders"].get(args.get("order_id", ""))
    if name == "cancel_pending_order":
        assert order is not None
        refunds = [
            {**t, "transaction_type": "refund"} for t in order["payment_history"] if t["transaction_type"] == "payment"
        ]
        for t in refunds:
            _credit(state, user_id, t["payment_method_id"], c(t["amount"]))
        order["payment_history"] += refunds
        order["status"] = "cancelled"
        order["cancel_reason"] = args["reason"]
    elif name == "modify_pending_order_address":
        assert order is not None
        order["address"] = {k: args[k] for k in ("address1", "address2", "city", "country", "state", "zip")}
    elif name == "modify_user_address":
        state["users"][user_id]["address"] = {
            k: args[k] for k in ("address1", "address2", "city", "country", "state", "zip")
        }
    elif name == "modify_pending_order_payment":
        assert order is not None
        paid = order["payment_history"][0]
        new = args["payment_method_id"]
        order["payment_history"] += [
            {"transaction_type": "payment", "amount": paid["amount"], "payment_method_id": new},
            {"transaction_type": "refund", "amount": paid["amount"], "payment_method_id": paid["payment_method_id"]},
        ]
        _credit(state, user_id, new, -c(paid["amount"]))
        _credit(state, user_id, paid["payment_method_id"], c(paid["amount"]))
    elif name == "modify_pending_order_items":
        assert order is not None
        difference = _swap(state, order, args["item_ids"], args["new_item_ids"])
        variants = {v["item_id"]: v for p in state["products"].values() for v in p["variants"].values()}
        done: set[int] = set()
        for old, new in zip(args["item_ids"], args["new_item_ids"], strict=True):
            index = next(i for i, it in enumerate(order["items"]) if it["item_id"] == old and i not in done)
            done.add(index)
            order["items"][index].update(item_id=new, price=variants[new]["price"], options=variants[new]["options"])
        order["payment_history"].append(
            {
                "transaction_type": "payment" if difference > 0 else "refund",
                "amount": d(abs(difference)),
                "payment_method_id": args["payment_method_id"],
            }
        )
        _credit(state, user_id, args["payment_method_id"], -difference)
        order["status"] = "pending (item modified)"
    elif name == "return_delivered_order_items":
        assert order is not None
        order["status"] = "return requested"
        order["return_items"] = sorted(args["item_ids"])
        order["return_payment_method_id"] = args["payment_method_id"]
    elif name == "exchange_delivered_order_items":
        assert order is not None
        difference = _swap(state, order, args["item_ids"], args["new_item_ids"])
        order["status"] = "exchange requested"
        order["exchange_items"] = sorted(args["item_ids"])
        order["exchange_new_items"] = sorted(args["new_item_ids"])
        order["exchange_payment_method_id"] = args["payment_method_id"]
        order["exchange_price_difference"] = d(difference)
    elif name != "transfer_to_human_agents":
        raise AssertionError(f"the oracle does not know the write {name}")
