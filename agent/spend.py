"""Daily model spend, per customer and for the whole store, held by reservations.

A budget that is checked by summing what finished runs cost lets every run in progress through: forty turns
that start together all see the same total. So a run *reserves* before it may call a model: one conditional
upsert per scope adds the run's reservation to today's counter, and only while the counter is still below the
budget. When the run ends, it settles: the reservation is swapped for what the run actually cost, in the
transaction that closes the run. Concurrent runs can therefore pass a budget by at most one run's reservation
(the last one admitted below it), whatever the number of processes.

Each check reads and writes one indexed row per scope (customer, store): its cost does not grow with the day's
traffic.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from tools.store.locks import STORE_SCOPE, customer_scope

_RESERVE = text(
    """
    INSERT INTO spend_days (scope, day, used_micro_usd) VALUES (:scope, :day, :amount)
    ON CONFLICT (scope, day) DO UPDATE SET used_micro_usd = spend_days.used_micro_usd + :amount
    WHERE spend_days.used_micro_usd < :budget
    RETURNING used_micro_usd
    """
)
"""Admit while the counter is below the budget; the row that comes back is the proof of admission."""

_ADJUST = text(
    """
    INSERT INTO spend_days (scope, day, used_micro_usd) VALUES (:scope, :day, :amount)
    ON CONFLICT (scope, day) DO UPDATE SET used_micro_usd = spend_days.used_micro_usd + :amount
    """
)


class DailySpend:
    def __init__(self, *, customer_micro_usd: int, store_micro_usd: int, reservation_micro_usd: int) -> None:
        self.customer_micro_usd = customer_micro_usd
        self.store_micro_usd = store_micro_usd
        self.reservation_micro_usd = reservation_micro_usd
        """What one run reserves: at least what a run may spend (its cost budget), so the bound above holds."""

    async def reserve(self, session: AsyncSession, customer_id: str, day: date) -> str | None:
        """Reserve one run's spend in `session`'s transaction. Returns None when admitted, else the budget that is
        used up (`customer_daily_cost` or `store_daily_cost`), and then nothing is reserved."""
        amount = self.reservation_micro_usd
        scopes = (
            (customer_scope(customer_id), self.customer_micro_usd, "customer_daily_cost"),
            (STORE_SCOPE, self.store_micro_usd, "store_daily_cost"),
        )
        taken: list[str] = []
        for scope, budget, name in scopes:
            admitted = await session.exec(  # type: ignore[call-overload]
                _RESERVE, params={"scope": scope, "day": day, "amount": amount, "budget": budget}
            )
            if admitted.first() is None:
                for earlier in taken:
                    await self._adjust(session, earlier, day, -amount)
                return name
            taken.append(scope)
        return None

    async def settle(self, session: AsyncSession, customer_id: str, day: date, reserved: int, spent: int) -> None:
        """Swap a run's reservation for what it spent, in the transaction that closes the run."""
        if reserved == spent:
            return
        for scope in (customer_scope(customer_id), STORE_SCOPE):
            await self._adjust(session, scope, day, spent - reserved)

    @staticmethod
    async def _adjust(session: AsyncSession, scope: str, day: date, amount: int) -> None:
        await session.exec(_ADJUST, params={"scope": scope, "day": day, "amount": amount})  # type: ignore[call-overload]
