"""Admitting a customer message: the chat rate limit and the daily spend reservation, atomically.

Both are checked inside the transaction that stores the message and its run, after taking the customer's lock
row (`tools.store.locks`): the count of this minute's messages and the insert of the new one cannot be split by
another request, on one process or many. A message over the rate limit is refused before anything is stored; a
message past a daily budget is stored and answered politely without a model call.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from agent.errors import RateLimited
from agent.spend import DailySpend
from agent.tables import Run
from tools.store.locks import customer_scope, hold

WINDOW = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class Admitted:
    reserved_micro_usd: int
    spent_budget: str | None
    """The daily budget that is used up (the run is answered without the model), or None."""


class Admission:
    def __init__(self, *, per_minute: int, spend: DailySpend | None) -> None:
        self.per_minute = per_minute
        self.spend = spend

    async def admit(self, session: AsyncSession, customer_id: str, now: datetime) -> Admitted:
        """Check and reserve in `session`'s transaction; raises `RateLimited` (and the caller rolls back)."""
        await hold(session, customer_scope(customer_id))
        count, oldest = (
            await session.exec(
                select(func.count(), func.min(Run.started_at)).where(
                    col(Run.customer_id) == customer_id,
                    col(Run.resumed_from).is_(None),
                    col(Run.started_at) > now - WINDOW,
                )
            )
        ).one()
        if count >= self.per_minute:
            wait_s = max(1, math.ceil((oldest + WINDOW - now).total_seconds())) if oldest else 60
            raise RateLimited(f"at most {self.per_minute} messages a minute; please wait {wait_s} s", wait_s)
        return await self.reserve(session, customer_id, now)

    async def reserve(self, session: AsyncSession, customer_id: str, now: datetime) -> Admitted:
        """The spend reservation alone: for runs that do not start from a customer message (resumed runs)."""
        if self.spend is None:
            return Admitted(0, None)
        spent = await self.spend.reserve(session, customer_id, now.date())
        return Admitted(0 if spent else self.spend.reservation_micro_usd, spent)
