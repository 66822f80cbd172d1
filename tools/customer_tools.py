"""The customer's own profile: read it, change the default address."""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select

from tools import summaries
from tools.arguments import AddressArgs, NoArgs
from tools.context import ToolContext
from tools.registry import Change, Effect, registry
from tools.store.records import load_customer, payment_method_json
from tools.store.tables import Order, PaymentMethod


async def customer_json(ctx: ToolContext) -> dict[str, Any]:
    customer = await load_customer(ctx.session, ctx.customer_id)
    methods = (
        await ctx.session.exec(
            select(PaymentMethod)
            .where(PaymentMethod.customer_id == customer.user_id)
            .order_by(col(PaymentMethod.position))
        )
    ).all()
    order_ids = (
        await ctx.session.exec(
            select(Order.order_id).where(Order.customer_id == customer.user_id).order_by(col(Order.position))
        )
    ).all()
    return {
        "user_id": customer.user_id,
        "name": {"first_name": customer.first_name, "last_name": customer.last_name},
        "address": dict(customer.address),
        "email": customer.email,
        "payment_methods": {m.id: payment_method_json(m) for m in methods},
        "orders": list(order_ids),
    }


@registry.tool(effect=Effect.READ, label="Looking up your account")
async def get_customer_profile(ctx: ToolContext, args: NoArgs) -> dict[str, Any]:
    """Get the signed-in customer's profile: name, default address, email, payment methods (with gift card
    balances) and the ids of their orders."""
    return await customer_json(ctx)


class ModifyCustomerAddress(AddressArgs):
    pass


@registry.tool(effect=Effect.WRITE, label="Updating your address")
async def modify_customer_address(ctx: ToolContext, args: ModifyCustomerAddress) -> Change:
    """Replace the signed-in customer's default address. Confirm the full new address with the customer first."""
    customer = await load_customer(ctx.session, ctx.customer_id)
    new_address = args.as_address()

    async def apply() -> dict[str, Any]:
        customer.address = new_address
        ctx.session.add(customer)
        await ctx.session.flush()
        return await customer_json(ctx)

    return Change(apply=apply, summary=summaries.default_address(new_address))
