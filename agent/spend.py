"""Daily model spend: per customer and for the whole store. A run that would start past either budget is
answered politely without calling the model."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func
from sqlmodel import col, select

from agent.tables import Run
from tools.context import utcnow
from tools.store.database import Database


class DailySpend:
    def __init__(self, database: Database, *, customer_micro_usd: int, store_micro_usd: int) -> None:
        self.database = database
        self.customer_micro_usd = customer_micro_usd
        self.store_micro_usd = store_micro_usd

    async def exhausted(self, customer_id: str) -> str | None:
        """`customer_daily_cost` or `store_daily_cost` when that budget is used up for today (UTC), else None."""
        now = utcnow()
        midnight = datetime(now.year, now.month, now.day, tzinfo=UTC)
        async with self.database.session(readonly=True) as session:
            store = (
                await session.exec(
                    select(func.coalesce(func.sum(Run.cost_micro_usd), 0)).where(col(Run.started_at) >= midnight)
                )
            ).one()
            customer = (
                await session.exec(
                    select(func.coalesce(func.sum(Run.cost_micro_usd), 0)).where(
                        col(Run.started_at) >= midnight, col(Run.customer_id) == customer_id
                    )
                )
            ).one()
        if int(customer) >= self.customer_micro_usd:
            return "customer_daily_cost"
        if int(store) >= self.store_micro_usd:
            return "store_daily_cost"
        return None
