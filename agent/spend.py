"""Daily model spend: per customer and for the whole store. A run that would start past either budget is
answered politely without calling the model.

Totals are read from the runs table (so every replica's spending counts) and kept for a few seconds per
process, with this process's own runs added as they finish: the check costs no query on most turns, and a
budget is never overshot by more than what other replicas spend within that window.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, date, datetime

from sqlalchemy import case, func
from sqlmodel import col, select

from agent.tables import Run
from tools.context import utcnow
from tools.store.database import Database

REFRESH_S = 5.0


class DailySpend:
    def __init__(
        self,
        database: Database,
        *,
        customer_micro_usd: int,
        store_micro_usd: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.database = database
        self.customer_micro_usd = customer_micro_usd
        self.store_micro_usd = store_micro_usd
        self.clock = clock
        self._day: date | None = None
        self._store: tuple[float, int] | None = None
        self._customers: dict[str, tuple[float, int]] = {}

    async def exhausted(self, customer_id: str) -> str | None:
        """`customer_daily_cost` or `store_daily_cost` when that budget is used up for today (UTC), else None."""
        customer, store = await self._totals(customer_id)
        if customer >= self.customer_micro_usd:
            return "customer_daily_cost"
        if store >= self.store_micro_usd:
            return "store_daily_cost"
        return None

    def record(self, customer_id: str, cost_micro_usd: int) -> None:
        """Add a finished run's cost to the cached totals."""
        if self._store is not None:
            self._store = (self._store[0], self._store[1] + cost_micro_usd)
        if customer_id in self._customers:
            read_at, total = self._customers[customer_id]
            self._customers[customer_id] = (read_at, total + cost_micro_usd)

    async def _totals(self, customer_id: str) -> tuple[int, int]:
        now = utcnow()
        if self._day != now.date():
            self._day, self._store, self._customers = now.date(), None, {}
        fresh = self.clock() - REFRESH_S
        cached_store, cached_customer = self._store, self._customers.get(customer_id)
        if cached_store and cached_customer and cached_store[0] > fresh and cached_customer[0] > fresh:
            return cached_customer[1], cached_store[1]
        midnight = datetime(now.year, now.month, now.day, tzinfo=UTC)
        async with self.database.session(readonly=True) as session:
            customer, store = (
                await session.exec(
                    select(
                        func.coalesce(
                            func.sum(case((col(Run.customer_id) == customer_id, col(Run.cost_micro_usd)), else_=0)), 0
                        ),
                        func.coalesce(func.sum(Run.cost_micro_usd), 0),
                    ).where(col(Run.started_at) >= midnight)
                )
            ).one()
        read_at = self.clock()
        self._store = (read_at, int(store))
        self._customers[customer_id] = (read_at, int(customer))
        return int(customer), int(store)
