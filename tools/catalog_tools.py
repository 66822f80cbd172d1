"""The product catalogue. Products are the same for every customer, so these reads need no scoping."""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select

from tools.arguments import NoArgs, ProductId, ToolArgs
from tools.context import ToolContext
from tools.registry import Effect, registry
from tools.store.records import load_product, product_json
from tools.store.tables import Product


class GetProductDetails(ToolArgs):
    product_id: ProductId


@registry.tool(effect=Effect.READ, label="Looking up the product")
async def get_product_details(ctx: ToolContext, args: GetProductDetails) -> dict[str, Any]:
    """Get a product type and all its variants (item ids, options, availability, price). Product ids and item ids
    are different things: an order item's `product_id` is the one to use here."""
    product, variants = await load_product(ctx.session, args.product_id)
    return product_json(product, variants)


@registry.tool(effect=Effect.READ, label="Looking through the catalogue")
async def list_product_types(ctx: ToolContext, args: NoArgs) -> dict[str, Any]:
    """List every product type the store sells, as a map from product name to product id."""
    rows = (await ctx.session.exec(select(Product.name, Product.product_id).order_by(col(Product.name)))).all()
    return dict(rows)
