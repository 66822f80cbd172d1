"""Daily model spend, per customer and for the whole store, held by reservations.

A budget that is checked by summing what finished runs cost lets every run in progress through: forty turns
that start together all see the same total. So a run *reserves* before it may call a model: one conditional
upsert per scope adds the run's reservation to today's counter, and only while the counter is still below the
budget. When the run ends, it settles: the reservation is swapped for what the run actually cost, in the
transaction that closes the run.

The store's counter is split into stripes. Every turn of every customer reserves and settles on the store's
counter, and a row lock is held from the write to the commit: with one row, turns of different customers queue
behind each other there (at 200 conversations at once on PostgreSQL, most of a turn's wait was that queue). Each
stripe is a row of its own with an equal share of the budget; a run reserves on the stripe its id hashes to, or,
when that one is full, on the emptiest stripe, so the budget is only refused once every stripe is used up. A
transaction locks one stripe only, so two admissions never wait on each other in a cycle.

Concurrent runs can pass a budget by at most one run's reservation per counter row: one on a customer's counter,
one per stripe on the store's. Stripes are only used where that stays under 2% of the store's budget
(`store_stripes`), and on SQLite, which writes one transaction at a time anyway, the store has one row.
Settling lands on the run's own stripe (its id's hash), whichever stripe took the reservation: the stripes' sum,
which is what the store spent and holds, is exact either way.

Each check reads and writes one indexed row per scope (customer, store stripe), and reads one more when the run's
stripe is full: its cost does not grow with the day's traffic.
"""

from __future__ import annotations

import zlib
from datetime import date
from typing import Any

from sqlalchemy import CTE, BigInteger, ColumnElement, TextClause, bindparam, case, func, literal, select, text
from sqlmodel.ext.asyncio.session import AsyncSession

from basics.batched import Bound, run
from tools.store.locks import STORE_SCOPE, customer_scope

MOST_STRIPES = 16
"""Enough that 200 turns at once rarely meet on one row; more would only spread the budget thinner."""

OVERSHOOT_SHARE = 50
"""Stripes are added only while one reservation per stripe stays within 1/50 of the store's budget."""

_RESERVE = """
    INSERT INTO spend_days (scope, day, used_micro_usd)
    SELECT :customer_scope, :day, :amount WHERE GATE
    UNION ALL SELECT STRIPE, :day, :amount WHERE GATE
    ON CONFLICT (scope, day) DO UPDATE SET used_micro_usd = spend_days.used_micro_usd + excluded.used_micro_usd
    WHERE spend_days.used_micro_usd
        < CASE WHEN spend_days.scope = :customer_scope THEN :customer_budget ELSE :stripe_budget END
    RETURNING scope
"""
"""Admit on both counters (the customer's, a store stripe) while each is below its budget, in one round trip; a
counter that comes back is the proof of admission on it. The rows are written customer first, then store: the
order `tools.store.locks` takes scopes in, so two admissions never wait on each other in a cycle. GATE is a
constant SQL condition (`true`, or one naming the CTE the reservation waits for: see `agent.conversations.admission`);
STRIPE
is the store stripe's scope (`_ONE_STRIPE` or `_OPEN_STRIPE`)."""

_ONE_STRIPE = ":preferred"

_OPEN_STRIPE = """COALESCE(
        (SELECT :preferred WHERE COALESCE(
            (SELECT seen.used_micro_usd FROM spend_days AS seen WHERE seen.scope = :preferred AND seen.day = :day), 0
        ) < :stripe_budget),
        (SELECT stripes.scope FROM unnest(CAST(:stripes AS text[])) AS stripes (scope)
            LEFT JOIN spend_days AS seen ON seen.scope = stripes.scope AND seen.day = :day
            ORDER BY COALESCE(seen.used_micro_usd, 0), stripes.scope LIMIT 1))"""
"""The run's own stripe while it has room, else the emptiest one. Read without a lock: the upsert then checks the
stripe it picked under the row's lock, so a stripe filled in between refuses rather than overflows."""

_ADJUSTING = text(
    """
    INSERT INTO spend_days (scope, day, used_micro_usd)
    VALUES (:customer_scope, :day, :customer_amount), (:store_scope, :day, :store_amount)
    ON CONFLICT (scope, day) DO UPDATE SET used_micro_usd = spend_days.used_micro_usd + excluded.used_micro_usd
    """
).columns()
"""Move a customer's counter and one store stripe at once (an amount of 0 leaves one as it is): a write to batch
(`basics.batched`), its values bound when it runs (`_adjustment`)."""


def store_stripes(store_micro_usd: int, reservation_micro_usd: int) -> int:
    """How many rows the store's counter is split into: as many as keep the worst overshoot (one reservation per
    stripe) within 1/`OVERSHOOT_SHARE` of the budget, at most `MOST_STRIPES`, at least one."""
    return max(1, min(MOST_STRIPES, store_micro_usd // (reservation_micro_usd * OVERSHOOT_SHARE)))


def stripe_scope(index: int) -> str:
    """The first stripe is the store's original row, so a day's spend counted before striping still counts."""
    return STORE_SCOPE if index == 0 else f"{STORE_SCOPE}#{index}"


def is_store_scope(scope: str) -> bool:
    return scope == STORE_SCOPE or scope.startswith(f"{STORE_SCOPE}#")


class DailySpend:
    def __init__(
        self, *, customer_micro_usd: int, store_micro_usd: int, reservation_micro_usd: int, stripes: int = 1
    ) -> None:
        self.customer_micro_usd = customer_micro_usd
        self.store_micro_usd = store_micro_usd
        self.reservation_micro_usd = reservation_micro_usd
        """What one run reserves: at least what a run may spend (its cost budget), so the bound above holds."""
        self.stripes = stripes
        self.stripe_micro_usd = store_micro_usd // stripes
        self._reserve_sql = _RESERVE.replace("STRIPE", _OPEN_STRIPE if stripes > 1 else _ONE_STRIPE)
        self._stripe_params = {"stripes": [stripe_scope(i) for i in range(stripes)]} if stripes > 1 else {}
        self._reserving: dict[str, TextClause] = {}
        """The reservation's parsed SQL per gate: parsed for every turn, it showed in the turn's profile."""

    def stripe_of(self, run_id: str) -> str:
        """The run's own store stripe: a stable hash of its id, the same in every process."""
        return stripe_scope(zlib.crc32(run_id.encode()) % self.stripes)

    def reserving(self, gate: str) -> TextClause:
        """The statement that reserves one run's spend on both counters, parsed once per gate, its values bound
        when it runs (`reservation_values`); it returns the scopes that took it (for `admitted`). It can ride on
        the statement that starts a turn (`agent.conversations.admission`), where `gate` makes it wait for the
        conversation's claim."""
        clause = self._reserving.get(gate)
        if clause is None:
            clause = self._reserving.setdefault(gate, text(self._reserve_sql.replace("GATE", gate)))
        return clause

    def reservation_values(self, customer_id: str, day: date, run_id: str) -> dict[str, Any]:
        return {
            "held_reservation": self.reservation_micro_usd,
            "customer_scope": customer_scope(customer_id),
            "preferred": self.stripe_of(run_id),
            "day": day,
            "amount": self.reservation_micro_usd,
            "customer_budget": self.customer_micro_usd,
            "stripe_budget": self.stripe_micro_usd,
            **self._stripe_params,
        }

    async def reserve(self, session: AsyncSession, customer_id: str, day: date, run_id: str) -> str | None:
        """Reserve one run's spend in `session`'s transaction. Returns None when admitted, else the budget that is
        used up (`customer_daily_cost` or `store_daily_cost`), and then nothing is reserved."""
        values = self.reservation_values(customer_id, day, run_id)
        taken = {row[0] for row in (await session.exec(self.reserving("true"), params=values)).all()}  # type: ignore[call-overload]
        return await self.admitted(session, customer_id, day, taken)

    async def admitted(self, session: AsyncSession, customer_id: str, day: date, taken: set[str]) -> str | None:
        """What a reservation that came back with the scopes `taken` means: None when both counters took it, else
        the budget that is used up, after giving back what the other counter took."""
        spent, give_back = self.judged(customer_id, day, taken)
        if give_back is not None:
            await run(session, give_back)
        return spent

    def judged(self, customer_id: str, day: date, taken: set[str]) -> tuple[str | None, Bound | None]:
        """What a reservation that came back with the scopes `taken` means: the budget that is used up (None when
        both counters took it), and the write that gives back what one counter took while the other refused (None
        when there is nothing to give back)."""
        if len(taken) == 2:
            return None, None
        amount = self.reservation_micro_usd
        scope = customer_scope(customer_id)
        stripe = next((taken_scope for taken_scope in taken if is_store_scope(taken_scope)), None)
        spent = "customer_daily_cost" if scope not in taken else "store_daily_cost"
        if not taken:
            return spent, None
        given_back = _adjustment(
            customer_id, day, stripe or STORE_SCOPE, -amount if scope in taken else 0, -amount if stripe else 0
        )
        return spent, Bound(_ADJUSTING, given_back)

    def held_in_sql(self, reserved: CTE) -> ColumnElement[int]:
        """PostgreSQL: what a run holds once `reserved` (the CTE of `reserving`, returning the scopes that took
        the reservation) has run, as `judged` decides it: its reservation when both counters took it, else 0."""
        both = select(func.count()).select_from(reserved).scalar_subquery() == 2
        return case((both, bindparam("held_reservation", type_=BigInteger())), else_=literal(0, BigInteger()))

    def settlement(self, customer_id: str, day: date, run_id: str, reserved: int, spent: int) -> Bound | None:
        """The write that swaps a run's reservation for what it spent, for the transaction that closes the run
        (batched with its other writes, see `basics.batched`); None when there is nothing to move."""
        if reserved == spent:
            return None
        return Bound(
            _ADJUSTING, _adjustment(customer_id, day, self.stripe_of(run_id), spent - reserved, spent - reserved)
        )


def _adjustment(customer_id: str, day: date, stripe: str, customer: int, store: int) -> dict[str, Any]:
    return {
        "customer_scope": customer_scope(customer_id),
        "store_scope": stripe,
        "day": day,
        "customer_amount": customer,
        "store_amount": store,
    }
