"""The whole store read back in the fixture's shape, for comparing states."""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select

from basics.database import Database
from evals.store_state import customer_state
from tools.store.money import to_dollars
from tools.store.records import order_json, payment_method_json
from tools.store.tables import Customer, Order, PaymentMethod


async def snapshot(database: Database) -> dict[str, Any]:
    """`{"users": {...}, "orders": {...}}` exactly as `fixtures/db.json` spells them (products never change)."""
    async with database.session(readonly=True) as session:
        customers = (await session.exec(select(Customer))).all()
        methods = (await session.exec(select(PaymentMethod).order_by(col(PaymentMethod.position)))).all()
        orders = (await session.exec(select(Order).order_by(col(Order.position)))).all()
    users: dict[str, Any] = {
        c.user_id: {
            "user_id": c.user_id,
            "name": {"first_name": c.first_name, "last_name": c.last_name},
            "address": dict(c.address),
            "email": c.email,
            "payment_methods": {},
            "orders": [],
        }
        for c in customers
    }
    for method in methods:
        users[method.customer_id]["payment_methods"][method.id] = payment_method_json(method)
    order_bodies: dict[str, Any] = {}
    for order in orders:
        order_bodies[order.order_id] = order_json(order)
        users[order.customer_id]["orders"].append(order.order_id)
    return {"users": users, "orders": order_bodies}


def gift_card_balance(state: dict[str, Any], user_id: str, method_id: str) -> float:
    return float(state["users"][user_id]["payment_methods"][method_id]["balance"])


def cents(value: float) -> int:
    return round(value * 100)


__all__ = ["cents", "customer_state", "gift_card_balance", "snapshot", "to_dollars"]
