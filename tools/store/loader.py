"""Seeding the store from the fixture file, once.

The seed is one transaction that first claims a marker row. A second loader (a restart, or another replica
starting at the same moment) either sees the marker and does nothing, or loses the race on the marker's primary
key and rolls back. The store is therefore seeded exactly once and never half-seeded.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, SQLModel

from basics.clock import utcnow
from basics.database import Database
from tools.data_files import DataFile
from tools.store.money import to_cents
from tools.store.tables import Customer, Order, PaymentMethod, Product, Variant, utc_column

STORE_DATA = DataFile("tools.store", "seed/db.json", "fixtures/db.json")
DEFAULT_FIXTURE = STORE_DATA.path()


class SeedMarker(SQLModel, table=True):
    __tablename__ = "seed_marker"

    name: str = Field(primary_key=True, max_length=60)
    digest: str = Field(max_length=64)
    seeded_at: datetime = Field(sa_column=utc_column())


def rows_from_fixture(data: dict[str, Any]) -> dict[type[SQLModel], list[dict[str, Any]]]:
    """The fixture's nested JSON, flattened into rows per table (amounts in cents)."""
    rows: dict[type[SQLModel], list[dict[str, Any]]] = {
        table: [] for table in (Customer, PaymentMethod, Product, Variant, Order)
    }
    for product in data["products"].values():
        rows[Product].append({"product_id": product["product_id"], "name": product["name"]})
        for position, variant in enumerate(product["variants"].values()):
            rows[Variant].append(
                {
                    "item_id": variant["item_id"],
                    "product_id": product["product_id"],
                    "position": position,
                    "options": variant["options"],
                    "available": bool(variant["available"]),
                    "price_cents": to_cents(variant["price"]),
                }
            )
    order_positions: dict[str, int] = {}
    for user in data["users"].values():
        rows[Customer].append(
            {
                "user_id": user["user_id"],
                "first_name": user["name"]["first_name"],
                "last_name": user["name"]["last_name"],
                "email": user["email"],
                "address": user["address"],
            }
        )
        for position, method in enumerate(user["payment_methods"].values()):
            rows[PaymentMethod].append(
                {
                    "id": method["id"],
                    "customer_id": user["user_id"],
                    "position": position,
                    "source": method["source"],
                    "brand": method.get("brand"),
                    "last_four": method.get("last_four"),
                    "balance_cents": to_cents(method["balance"]) if "balance" in method else None,
                }
            )
        order_positions.update({order_id: i for i, order_id in enumerate(user["orders"])})
    for order in data["orders"].values():
        order_id = order["order_id"]
        rows[Order].append(
            {
                "order_id": order_id,
                "customer_id": order["user_id"],
                "position": order_positions.get(order_id, 0),
                "address": order["address"],
                "items": [
                    {
                        "name": item["name"],
                        "product_id": item["product_id"],
                        "item_id": item["item_id"],
                        "price_cents": to_cents(item["price"]),
                        "options": item["options"],
                    }
                    for item in order["items"]
                ],
                "status": order["status"],
                "fulfillments": order["fulfillments"],
                "payment_history": [
                    {
                        "transaction_type": entry["transaction_type"],
                        "amount_cents": to_cents(entry["amount"]),
                        "payment_method_id": entry["payment_method_id"],
                    }
                    for entry in order["payment_history"]
                ],
                "cancel_reason": order.get("cancel_reason"),
                "version": 0,
            }
        )
    return rows


async def seed_store(database: Database, fixture: Path | None = None) -> bool:
    """Load the fixture into an empty store. Returns True if this call seeded, False if it was seeded already."""
    path = fixture or DEFAULT_FIXTURE
    raw = path.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    rows = rows_from_fixture(json.loads(raw))
    async with database.session() as session:
        if await session.get(SeedMarker, "store") is not None:
            return False
        try:
            session.add(SeedMarker(name="store", digest=digest, seeded_at=utcnow()))
            await session.flush()
            for table, table_rows in rows.items():
                if table_rows:
                    await session.exec(insert(table), params=table_rows)
            await session.commit()
        except IntegrityError:
            await session.rollback()
            return False
    return True
