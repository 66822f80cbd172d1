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
from typing import Any

from sqlalchemy import TextClause, TextualSelect, text
from sqlmodel.ext.asyncio.session import AsyncSession

from tools.store.locks import STORE_SCOPE, customer_scope

_RESERVE = """
    INSERT INTO spend_days (scope, day, used_micro_usd)
    SELECT :customer_scope, :day, :amount WHERE GATE
    UNION ALL SELECT :store_scope, :day, :amount WHERE GATE
    ON CONFLICT (scope, day) DO UPDATE SET used_micro_usd = spend_days.used_micro_usd + excluded.used_micro_usd
    WHERE spend_days.used_micro_usd
        < CASE WHEN spend_days.scope = :store_scope THEN :store_budget ELSE :customer_budget END
    RETURNING scope
"""
"""Admit on both counters (customer's, store's) while each is below its budget, in one round trip; a counter
that comes back is the proof of admission on it. The rows are written customer first, then store: the order
`tools.store.locks` takes scopes in, so two admissions never wait on each other in a cycle. GATE is a constant
SQL condition (`true`, or one naming the CTE the reservation waits for: see `agent.admission`)."""

_ADJUST = text(
    """
    INSERT INTO spend_days (scope, day, used_micro_usd)
    VALUES (:customer_scope, :day, :customer_amount), (:store_scope, :day, :store_amount)
    ON CONFLICT (scope, day) DO UPDATE SET used_micro_usd = spend_days.used_micro_usd + excluded.used_micro_usd
    """
)
"""Move both counters at once (an amount of 0 leaves one as it is)."""


class DailySpend:
    def __init__(self, *, customer_micro_usd: int, store_micro_usd: int, reservation_micro_usd: int) -> None:
        self.customer_micro_usd = customer_micro_usd
        self.store_micro_usd = store_micro_usd
        self.reservation_micro_usd = reservation_micro_usd
        """What one run reserves: at least what a run may spend (its cost budget), so the bound above holds."""

    def reservation(self, customer_id: str, day: date, *, gate: str = "true") -> TextClause:
        """The statement that reserves one run's spend on both counters; it returns the scopes that took it (for
        `admitted`). Separate so it can ride on the statement that starts a turn (`agent.admission`), where
        `gate` makes it wait for the conversation's claim."""
        return text(_RESERVE.replace("GATE", gate)).bindparams(
            customer_scope=customer_scope(customer_id),
            store_scope=STORE_SCOPE,
            day=day,
            amount=self.reservation_micro_usd,
            customer_budget=self.customer_micro_usd,
            store_budget=self.store_micro_usd,
        )

    async def reserve(self, session: AsyncSession, customer_id: str, day: date) -> str | None:
        """Reserve one run's spend in `session`'s transaction. Returns None when admitted, else the budget that is
        used up (`customer_daily_cost` or `store_daily_cost`), and then nothing is reserved."""
        taken = {row[0] for row in (await session.exec(self.reservation(customer_id, day))).all()}  # type: ignore[call-overload]
        return await self.admitted(session, customer_id, day, taken)

    async def admitted(self, session: AsyncSession, customer_id: str, day: date, taken: set[str]) -> str | None:
        """What a reservation that came back with the scopes `taken` means: None when both counters took it, else
        the budget that is used up, after giving back what the other counter took."""
        amount = self.reservation_micro_usd
        scope = customer_scope(customer_id)
        if len(taken) == 2:
            return None
        # Give back what one counter took while the other refused.
        await self._adjust(
            session,
            customer_id,
            day,
            customer=-amount if scope in taken else 0,
            store=-amount if STORE_SCOPE in taken else 0,
        )
        return "customer_daily_cost" if scope not in taken else "store_daily_cost"

    @staticmethod
    def settlement(customer_id: str, day: date, reserved: int, spent: int) -> TextualSelect | None:
        """The write that swaps a run's reservation for what it spent, for the transaction that closes the run
        (batched with its other writes, see `agent.batched`); None when there is nothing to move."""
        if reserved == spent:
            return None
        return _ADJUST.bindparams(**_adjustment(customer_id, day, spent - reserved, spent - reserved)).columns()

    @staticmethod
    async def _adjust(session: AsyncSession, customer_id: str, day: date, *, customer: int, store: int) -> None:
        await session.exec(_ADJUST, params=_adjustment(customer_id, day, customer, store))  # type: ignore[call-overload]


def _adjustment(customer_id: str, day: date, customer: int, store: int) -> dict[str, Any]:
    return {
        "customer_scope": customer_scope(customer_id),
        "store_scope": STORE_SCOPE,
        "day": day,
        "customer_amount": customer,
        "store_amount": store,
    }
