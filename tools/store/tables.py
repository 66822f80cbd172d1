"""The store's tables: customers, payment methods, catalogue, orders, and the ledger of executed writes.

Field names follow the store data (`fixtures/db.json`) so that reads can hand the model the record as the
store keeps it. Amounts are integer cents (see `money`), also inside JSON columns. JSON columns hold values that
are only ever read and written whole with their row (addresses, options, an order's items and payments).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, DateTime, Dialect, Index, TypeDecorator
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

JSONType = JSON().with_variant(JSONB(), "postgresql")


def json_column(nullable: bool = False) -> Any:
    return Column(JSONType, nullable=nullable)


def money_column(nullable: bool = False) -> Any:
    return Column(BigInteger, nullable=nullable)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend. SQLite keeps no zone, so values are stored as UTC and read back
    with the UTC zone attached; comparing them in SQL stays correct because they are all UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("store aware datetimes only")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utc_column(index: bool = False, nullable: bool = False) -> Any:
    return Column(UTCDateTime(), nullable=nullable, index=index)


class Customer(SQLModel, table=True):
    __tablename__ = "customers"

    user_id: str = Field(primary_key=True, max_length=80)
    first_name: str = Field(max_length=120)
    last_name: str = Field(max_length=120)
    email: str = Field(max_length=254, index=True)
    address: dict[str, str] = Field(sa_column=json_column())


class PaymentMethod(SQLModel, table=True):
    __tablename__ = "payment_methods"

    id: str = Field(primary_key=True, max_length=80)
    customer_id: str = Field(foreign_key="customers.user_id", index=True, max_length=80)
    position: int
    source: str = Field(max_length=20)
    brand: str | None = Field(default=None, max_length=40)
    last_four: str | None = Field(default=None, max_length=4)
    balance_cents: int | None = Field(default=None, sa_column=money_column(nullable=True))


class Product(SQLModel, table=True):
    __tablename__ = "products"

    product_id: str = Field(primary_key=True, max_length=20)
    name: str = Field(max_length=120)


class Variant(SQLModel, table=True):
    __tablename__ = "variants"

    item_id: str = Field(primary_key=True, max_length=20)
    product_id: str = Field(foreign_key="products.product_id", index=True, max_length=20)
    position: int
    options: dict[str, str] = Field(sa_column=json_column())
    available: bool
    price_cents: int = Field(sa_column=money_column())


class Order(SQLModel, table=True):
    """An order with its items and payment history inline: they are always read and written with the order.

    `items`: `[{name, product_id, item_id, price_cents, options}]`;
    `payment_history`: `[{transaction_type: payment|refund, amount_cents, payment_method_id}]`.
    """

    __tablename__ = "orders"
    __table_args__ = (Index("ix_orders_customer_position", "customer_id", "position"),)

    order_id: str = Field(primary_key=True, max_length=20)
    customer_id: str = Field(foreign_key="customers.user_id", max_length=80)
    position: int
    address: dict[str, str] = Field(sa_column=json_column())
    items: list[dict[str, Any]] = Field(sa_column=json_column())
    status: str = Field(max_length=40)
    fulfillments: list[dict[str, Any]] = Field(sa_column=json_column())
    payment_history: list[dict[str, Any]] = Field(sa_column=json_column())
    cancel_reason: str | None = Field(default=None, max_length=40)
    return_items: list[str] | None = Field(default=None, sa_column=json_column(nullable=True))
    return_payment_method_id: str | None = Field(default=None, max_length=80)
    exchange_items: list[str] | None = Field(default=None, sa_column=json_column(nullable=True))
    exchange_new_items: list[str] | None = Field(default=None, sa_column=json_column(nullable=True))
    exchange_payment_method_id: str | None = Field(default=None, max_length=80)
    exchange_price_difference_cents: int | None = Field(default=None, sa_column=money_column(nullable=True))
    version: int = Field(default=0, description="bumped by every write; a stale writer's update matches no row")


class LedgerEntry(SQLModel, table=True):
    """One executed write. The unique idempotency key is what makes a money action run at most once."""

    __tablename__ = "ledger"
    __table_args__ = (Index("ix_ledger_customer_time", "customer_id", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    idempotency_key: str = Field(max_length=200, unique=True)
    tool: str = Field(max_length=60)
    customer_id: str = Field(max_length=80)
    order_id: str | None = Field(default=None, max_length=20)
    arguments: dict[str, Any] = Field(sa_column=json_column())
    amount_cents: int = Field(default=0, sa_column=money_column())
    refund_cents: int = Field(default=0, sa_column=money_column())
    result: dict[str, Any] = Field(sa_column=json_column())
    created_at: datetime = Field(sa_column=utc_column(index=True))
