"""Admitting a customer message: the chat rate limit and the daily spend reservation, atomically.

Both are taken inside the transaction that stores the message and its run, each with one conditional upsert of
one indexed row, so neither reads more as the day's traffic grows, and two requests (on one process or many)
cannot both pass a limit that has room for one: the database applies the upserts on the row one after the other.

The rate limit is a token bucket per customer (`chat_allowances`): it holds up to `per_minute` messages and
refills at `per_minute` a minute. A message over the limit is refused before anything is stored; a message past
a daily budget is stored and answered politely without a model call.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from agent.errors import RateLimited
from agent.spend import DailySpend
from tools.store.locks import customer_scope

_REFILLED = (
    "(chat_allowances.tokens + CASE WHEN :now > chat_allowances.refilled_at"
    " THEN (:now - chat_allowances.refilled_at) * :per_second ELSE 0 END)"
)
"""The bucket's tokens now. A request whose clock reads earlier than the last refill (it waited for the row
behind a later one, or another process's clock is ahead) adds nothing rather than taking tokens away."""

_TAKE = text(
    """
    INSERT INTO chat_allowances (scope, tokens, refilled_at) VALUES (:scope, :capacity - 1, :now)
    ON CONFLICT (scope) DO UPDATE SET
        tokens = LEAST_OF(REFILLED, :capacity) - 1,
        refilled_at = CASE WHEN :now > chat_allowances.refilled_at THEN :now ELSE chat_allowances.refilled_at END
    WHERE REFILLED >= 1
    RETURNING tokens
    """.replace(
        "LEAST_OF(REFILLED, :capacity)", "CASE WHEN REFILLED > :capacity THEN :capacity ELSE REFILLED END"
    ).replace("REFILLED", _REFILLED)
)
"""Take one token if there is one, in one round trip; no row back means the customer is over the limit. (The
SQL is assembled from the constant fragment above; every value is a bound parameter.)"""

_LEFT = text("SELECT REFILLED FROM chat_allowances WHERE scope = :scope".replace("REFILLED", _REFILLED))


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
        per_second = self.per_minute / 60
        params = {
            "scope": customer_scope(customer_id),
            "now": now.timestamp(),
            "capacity": float(self.per_minute),
            "per_second": per_second,
        }
        taken = (await session.exec(_TAKE, params=params)).first()  # type: ignore[call-overload]
        if taken is None:
            left = (await session.exec(_LEFT, params=params)).scalar_one()  # type: ignore[call-overload]
            wait_s = max(1, math.ceil((1 - float(left)) / per_second))
            raise RateLimited(f"at most {self.per_minute} messages a minute; please wait {wait_s} s", wait_s)
        return await self.reserve(session, customer_id, now)

    async def reserve(self, session: AsyncSession, customer_id: str, now: datetime) -> Admitted:
        """The spend reservation alone: for runs that do not start from a customer message (resumed runs)."""
        if self.spend is None:
            return Admitted(0, None)
        spent = await self.spend.reserve(session, customer_id, now.date())
        return Admitted(0 if spent else self.spend.reservation_micro_usd, spent)
