"""Loading store records for one customer, and turning them back into the store's JSON shape.

Every lookup is scoped to the acting customer: an order, payment method or profile of anyone else is reported
exactly like one that does not exist, so a caller learns nothing about other customers.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import String, bindparam, update
from sqlalchemy import select as sql_select
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from tools.context import Reader
from tools.errors import ConcurrentUpdate, InsufficientBalance, NotFound
from tools.store.money import format_usd, to_dollars
from tools.store.tables import Customer, Order, PaymentMethod, Product, Variant


def payments(order: Order) -> list[dict[str, Any]]:
    return [t for t in order.payment_history if t["transaction_type"] == "payment"]


def original_payment_method_id(order: Order) -> str | None:
    return order.payment_history[0]["payment_method_id"] if order.payment_history else None


def item_prices(order: Order) -> dict[str, int]:
    """Price of each item id in the order (first occurrence; duplicates of an item cost the same)."""
    prices: dict[str, int] = {}
    for item in order.items:
        prices.setdefault(item["item_id"], item["price_cents"])
    return prices


async def load_customer(session: AsyncSession, customer_id: str) -> Customer:
    customer = await session.get(Customer, customer_id)
    if customer is None:
        raise NotFound("customer profile not found")
    return customer


_ORDER_BY_ID = select(Order).where(col(Order.order_id) == bindparam("order_id"))
"""Built once: the hottest query of the service, so its construction is not paid per call."""


async def load_order(session: AsyncSession, customer_id: str, order_id: str) -> Order:
    order = (await session.exec(_ORDER_BY_ID, params={"order_id": order_id})).first()
    if order is None or order.customer_id != customer_id:
        raise NotFound(f"order {order_id} not found")
    return order


_ORDER_ROW = sql_select(*Order.__table__.columns).where(  # type: ignore[attr-defined]
    Order.__table__.c.order_id == bindparam("order_id", type_=String())  # type: ignore[attr-defined]
)


async def read_order(read: Reader | None, session: AsyncSession, customer_id: str, order_id: str) -> Order:
    """`load_order` for a tool that only reads the order: as a row with the order's fields when there is a
    `read`er (`ToolContext.read`), not an object of the session's."""
    if read is None:
        return await load_order(session, customer_id, order_id)
    rows = await read(_ORDER_ROW, {"order_id": order_id})
    if not rows or rows[0].customer_id != customer_id:
        raise NotFound(f"order {order_id} not found")
    return rows[0]  # type: ignore[no-any-return]  # read as an Order is: by its fields' names


async def load_payment_method(session: AsyncSession, customer_id: str, payment_method_id: str) -> PaymentMethod:
    method = await session.get(PaymentMethod, payment_method_id)
    if method is None or method.customer_id != customer_id:
        raise NotFound("that payment method is not on your account", details={"payment_method_id": payment_method_id})
    return method


async def load_product(session: AsyncSession, product_id: str) -> tuple[Product, list[Variant]]:
    product = await session.get(Product, product_id)
    if product is None:
        raise NotFound("that product is not in our catalogue", details={"product_id": product_id})
    variants = (
        await session.exec(select(Variant).where(Variant.product_id == product_id).order_by(col(Variant.position)))
    ).all()
    return product, list(variants)


async def load_variants(session: AsyncSession, item_ids: list[str]) -> dict[str, Variant]:
    if not item_ids:
        return {}
    found = (await session.exec(select(Variant).where(col(Variant.item_id).in_(set(item_ids))))).all()
    return {v.item_id: v for v in found}


async def claim_order(session: AsyncSession, order: Order) -> None:
    """Bump the order's version if nobody wrote it since we read it; otherwise the whole write is abandoned."""
    result = await session.exec(
        update(Order)
        .where(col(Order.order_id) == order.order_id, col(Order.version) == order.version)
        .values(version=order.version + 1)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise ConcurrentUpdate(f"order {order.order_id} was changed by another action; nothing was written")
    set_committed_value(order, "version", order.version + 1)


async def move_gift_card_balance(session: AsyncSession, method: PaymentMethod, delta_cents: int) -> None:
    """Credit (delta > 0) or debit (delta < 0) a gift card atomically; a debit never takes it below zero."""
    if delta_cents == 0:
        return
    column = col(PaymentMethod.balance_cents)
    statement = (
        update(PaymentMethod).where(col(PaymentMethod.id) == method.id).values(balance_cents=column + delta_cents)
    )
    if delta_cents < 0:
        statement = statement.where(column >= -delta_cents)
    result = await session.exec(statement.execution_options(synchronize_session=False))
    if result.rowcount != 1:
        raise InsufficientBalance(f"the gift card's balance does not cover {format_usd(-delta_cents)}")
    set_committed_value(method, "balance_cents", (method.balance_cents or 0) + delta_cents)


def add_transaction(order: Order, kind: str, amount_cents: int, method_id: str) -> None:
    """Append a payment or refund line. The list is replaced, not mutated, so the ORM sees the change."""
    entry = {"transaction_type": kind, "amount_cents": amount_cents, "payment_method_id": method_id}
    order.payment_history = [*order.payment_history, entry]


def is_gift_card(method: PaymentMethod) -> bool:
    return method.source == "gift_card"


# ---- the store's JSON shapes -------------------------------------------------------------------------------------


def payment_method_json(method: PaymentMethod) -> dict[str, Any]:
    body: dict[str, Any] = {"source": method.source, "id": method.id}
    if method.brand is not None:
        body["brand"] = method.brand
    if method.last_four is not None:
        body["last_four"] = method.last_four
    if method.balance_cents is not None:
        body["balance"] = to_dollars(method.balance_cents)
    return body


def order_json(order: Order) -> dict[str, Any]:
    body: dict[str, Any] = {
        "order_id": order.order_id,
        "user_id": order.customer_id,
        "address": dict(order.address),
        "items": [
            {
                "name": item["name"],
                "product_id": item["product_id"],
                "item_id": item["item_id"],
                "price": to_dollars(item["price_cents"]),
                "options": dict(item["options"]),
            }
            for item in order.items
        ],
        "status": order.status,
        "fulfillments": [dict(f) for f in order.fulfillments],
        "payment_history": [
            {
                "transaction_type": t["transaction_type"],
                "amount": to_dollars(t["amount_cents"]),
                "payment_method_id": t["payment_method_id"],
            }
            for t in order.payment_history
        ],
    }
    optional: dict[str, Any] = {
        "cancel_reason": order.cancel_reason,
        "return_items": order.return_items,
        "return_payment_method_id": order.return_payment_method_id,
        "exchange_items": order.exchange_items,
        "exchange_new_items": order.exchange_new_items,
        "exchange_payment_method_id": order.exchange_payment_method_id,
        "exchange_price_difference": (
            None if order.exchange_price_difference_cents is None else to_dollars(order.exchange_price_difference_cents)
        ),
    }
    body.update({k: v for k, v in optional.items() if v is not None})
    return body


def product_json(product: Product, variants: list[Variant]) -> dict[str, Any]:
    return {
        "name": product.name,
        "product_id": product.product_id,
        "variants": {
            v.item_id: {
                "item_id": v.item_id,
                "options": dict(v.options),
                "available": v.available,
                "price": to_dollars(v.price_cents),
            }
            for v in variants
        },
    }
