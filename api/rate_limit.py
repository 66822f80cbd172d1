"""Abuse limit on chat: at most N customer messages per customer per minute, across every replica.

The count comes from the runs table (one run per accepted message), so replicas share it without a cache.
Over the limit the request is refused with 429 and `Retry-After` before anything is stored.
"""

from __future__ import annotations

import math
from datetime import timedelta

from sqlalchemy import func
from sqlmodel import col, select

from agent.tables import Run
from api.errors import ApiError
from tools.context import utcnow
from tools.store.database import Database

WINDOW = timedelta(minutes=1)


class ChatRateLimiter:
    def __init__(self, database: Database, *, per_minute: int) -> None:
        self.database = database
        self.per_minute = per_minute

    async def check(self, customer_id: str) -> None:
        now = utcnow()
        async with self.database.session(readonly=True) as session:
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
            raise ApiError(
                429,
                "rate_limited",
                f"at most {self.per_minute} messages a minute; please wait {wait_s} s",
                headers={"Retry-After": str(wait_s)},
            )
