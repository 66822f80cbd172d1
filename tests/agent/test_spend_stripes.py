"""The store's daily spend counter, split into stripes on PostgreSQL (`agent.limits.spend`).

Every turn reserves on the store's counter and settles on it when it closes, holding the row's lock until its
commit. These tests show that two customers' turns no longer wait for each other there, that the budget still
holds when many turns arrive at once, and that a full stripe sends a run to one with room instead of refusing it.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Iterator
from datetime import date

import pytest
from sqlalchemy import text
from sqlmodel import select

from agent.conversations.tables import SpendDay
from agent.limits.spend import DailySpend, is_store_scope, store_stripes, stripe_scope
from basics.batched import run
from basics.database import Database

DAY = date(2026, 11, 24)
RESERVATION = 100_000
"""Ten cents a run."""


@pytest.fixture
async def pg(postgresql_url: str) -> AsyncIterator[Database]:
    database = Database(postgresql_url)
    yield database
    await database.dispose()


def four_stripes(store_share_in_runs: float = 2.5) -> DailySpend:
    """Four stripes, each with room for `store_share_in_runs` reservations; customers have plenty."""
    return DailySpend(
        customer_micro_usd=100 * RESERVATION,
        store_micro_usd=round(4 * store_share_in_runs * RESERVATION),
        reservation_micro_usd=RESERVATION,
        stripes=4,
    )


def run_ids_on(spend: DailySpend, stripe: str) -> Iterator[str]:
    """Run ids whose own stripe is `stripe`."""
    return (run_id for n in itertools.count() if spend.stripe_of(run_id := f"run_{n}") == stripe)


async def store_counters(database: Database) -> dict[str, int]:
    async with database.session(readonly=True) as session:
        rows = (await session.exec(select(SpendDay).where(SpendDay.day == DAY))).all()
    return {row.scope: row.used_micro_usd for row in rows if is_store_scope(row.scope)}


async def reserve(database: Database, spend: DailySpend, customer: str, run_id: str) -> str | None:
    async with database.session() as session:
        refused = await spend.reserve(session, customer, DAY, run_id)
        await session.commit()
    return refused


def test_stripes_only_where_one_reservation_each_stays_a_small_share_of_the_budget() -> None:
    assert store_stripes(500_000_000, 500_000) == 16  # the defaults: $500 a day, 50-cent runs
    assert store_stripes(40_000_000, 500_000) == 1  # 16 stripes would let $8 more through: 20% of $40
    assert store_stripes(100_000_000, 500_000) == 4
    assert store_stripes(10_000, 500_000) == 1  # a budget below one reservation


async def test_two_customers_reserving_at_once_do_not_wait_for_each_other(pg: Database) -> None:
    spend = DailySpend(
        customer_micro_usd=10 * RESERVATION,
        store_micro_usd=16 * 50 * RESERVATION,
        reservation_micro_usd=RESERVATION,
        stripes=16,
    )
    first, second = next(run_ids_on(spend, stripe_scope(1))), next(run_ids_on(spend, stripe_scope(2)))
    async with pg.session() as holding:
        assert await spend.reserve(holding, "customer_a", DAY, first) is None
        # `holding` keeps its rows locked until it commits: a second turn on the same one row would wait here.
        async with pg.session() as other:
            await other.exec(text("SET LOCAL lock_timeout = '2s'"))  # type: ignore[call-overload]
            assert await spend.reserve(other, "customer_b", DAY, second) is None
            await other.commit()
        await holding.commit()
    assert await store_counters(pg) == {stripe_scope(1): RESERVATION, stripe_scope(2): RESERVATION}


async def test_a_full_stripe_sends_the_run_to_the_emptiest_and_the_budget_refuses_only_when_all_are_full(
    pg: Database,
) -> None:
    spend = four_stripes()  # each stripe admits while below 2.5 runs: three runs each, twelve in all
    same_stripe = run_ids_on(spend, stripe_scope(3))
    answers = [await reserve(pg, spend, f"customer_{n}", next(same_stripe)) for n in range(13)]
    assert answers == [None] * 12 + ["store_daily_cost"]
    assert await store_counters(pg) == {stripe_scope(i): 3 * RESERVATION for i in range(4)}
    async with pg.session(readonly=True) as session:
        refused = await session.get(SpendDay, ("customer:customer_12", DAY))
    assert refused is not None and refused.used_micro_usd == 0  # the customer's reservation was given back


async def test_settling_moves_the_runs_own_stripe_and_keeps_the_store_total_exact(pg: Database) -> None:
    spend = four_stripes()
    own = stripe_scope(2)
    runs = run_ids_on(spend, own)
    reserved = [next(runs) for _ in range(4)]  # the fourth spills: stripe 2 holds three
    for n, run_id in enumerate(reserved):
        assert await reserve(pg, spend, f"customer_{n}", run_id) is None
    async with pg.session() as session:
        for n, run_id in enumerate(reserved):
            settled = spend.settlement(f"customer_{n}", DAY, run_id, RESERVATION, 30_000)
            assert settled is not None
            await run(session, settled)
        await session.commit()
    counters = await store_counters(pg)
    assert sum(counters.values()) == 4 * 30_000
    assert counters[own] == 3 * RESERVATION - 4 * (RESERVATION - 30_000)


async def test_forty_turns_at_once_stay_within_one_reservation_per_stripe_of_the_budget(pg: Database) -> None:
    spend = four_stripes()
    budget = spend.store_micro_usd
    answers = await asyncio.gather(*(reserve(pg, spend, f"customer_{n}", f"run_burst_{n}") for n in range(40)))
    admitted = answers.count(None)
    assert set(answers) == {None, "store_daily_cost"}
    counters = await store_counters(pg)
    assert sum(counters.values()) == admitted * RESERVATION
    # No stripe admits once it is at its share, so the store passes its budget by less than one run per stripe,
    assert all(used < spend.stripe_micro_usd + RESERVATION for used in counters.values())
    assert sum(counters.values()) < budget + 4 * RESERVATION
    # and a run is refused only once the store is within one run per stripe of its budget.
    assert sum(counters.values()) > budget - 4 * RESERVATION
