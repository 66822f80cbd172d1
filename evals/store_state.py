"""A customer's account as stored, in the fixture's field names: the "final state" a case is judged on."""

from __future__ import annotations

from typing import Any

from sqlmodel import select

from basics.database import Database
from tools.store.records import order_json, payment_method_json
from tools.store.tables import Customer, Order, PaymentMethod


async def customer_state(database: Database, user_id: str) -> dict[str, Any]:
    """`{"address", "payment_methods", "orders"}` of one customer; empty if the store does not know them."""
    async with database.session(readonly=True) as session:
        customer = await session.get(Customer, user_id)
        if customer is None:
            return {}
        methods = (await session.exec(select(PaymentMethod).where(PaymentMethod.customer_id == user_id))).all()
        orders = (await session.exec(select(Order).where(Order.customer_id == user_id))).all()
        return {
            "address": dict(customer.address),
            "payment_methods": {m.id: payment_method_json(m) for m in methods},
            "orders": {o.order_id: order_json(o) for o in orders},
        }
