"""A customer's account as stored, in the fixture's field names: the "final state" a case is judged on; and a
case's own store data (`StoreSnapshot`) written into its copy of the store before it is played."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert
from sqlmodel import col, select

from basics.database import Database
from evals.cases import StoreSnapshot
from tools.store.loader import rows_from_fixture
from tools.store.money import to_cents
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


async def apply_snapshot(database: Database, user_id: str, snapshot: StoreSnapshot) -> None:
    """Write a case's store data into its copy of the store: its payment methods where the store lacks them, its
    orders over the stored ones. A customer the store does not know is created with placeholder personal data
    (a case carries none), so a case from a store whose customers are not the seed's still plays."""
    methods = [
        {
            "id": method_id,
            "customer_id": user_id,
            "position": position,
            "source": method["source"],
            "brand": method.get("brand"),
            "last_four": method.get("last_four"),
            "balance_cents": to_cents(method["balance"]) if "balance" in method else None,
        }
        for position, (method_id, method) in enumerate(snapshot.payment_methods.items())
    ]
    orders = rows_from_fixture({"products": {}, "users": {}, "orders": snapshot.orders})[Order]
    async with database.session() as session:
        if await session.get(Customer, user_id) is None:
            first = next(iter(snapshot.orders.values()), {})
            session.add(
                Customer(
                    user_id=user_id,
                    first_name="Case",
                    last_name="Customer",
                    email=f"{user_id}@example.invalid",
                    address=dict(first.get("address") or {}),
                )
            )
            await session.flush()
        known = set(
            (
                await session.exec(
                    select(PaymentMethod.id).where(col(PaymentMethod.id).in_([m["id"] for m in methods]))
                )
            ).all()
        )
        if fresh := [m for m in methods if m["id"] not in known]:
            await session.exec(insert(PaymentMethod), params=fresh)
        if orders:
            await session.exec(delete(Order).where(col(Order.order_id).in_([o["order_id"] for o in orders])))
            await session.exec(insert(Order), params=orders)
        await session.commit()
