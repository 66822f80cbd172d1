"""The pacer: a few turns compute at once, the rest in arrival order, returning turns first, no place ever lost;
the turns waiting are a gauge."""

from __future__ import annotations

import asyncio

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider

from agent.limits.pacing import TurnPacer
from agent.telemetry.recorder import Telemetry


async def settle() -> None:
    """Let every task that can run, run."""
    for _ in range(20):
        await asyncio.sleep(0)


async def test_no_more_turns_compute_at_once_than_there_are_places() -> None:
    pacer = TurnPacer(3)
    computing = most = 0

    async def turn() -> None:
        nonlocal computing, most
        async with pacer.turn():
            computing += 1
            most = max(most, computing)
            for _ in range(5):  # a turn's database round trips: the loop switches task at each
                await asyncio.sleep(0)
            computing -= 1

    await asyncio.gather(*(turn() for _ in range(20)))
    assert most == 3
    assert pacer.in_use == 0 and pacer.waiting == 0


async def test_a_burst_is_served_in_arrival_order_not_round_robin() -> None:
    async def burst(pacer: TurnPacer) -> list[int]:
        """For each turn of a burst of ten, in the order they finish, how many of the ten had started by then."""
        started = 0
        seen_at_finish: list[int] = []

        async def turn() -> None:
            nonlocal started
            async with pacer.turn():
                started += 1
                for _ in range(5):  # a turn's database round trips
                    await asyncio.sleep(0)
                seen_at_finish.append(started)

        await asyncio.gather(*(turn() for _ in range(10)))
        return seen_at_finish

    # Paced, each turn finishes before the next starts: the first is answered after one turn's work.
    assert await burst(TurnPacer(1)) == list(range(1, 11))
    # Unpaced, the loop serves the ten round-robin: even the first waits for all ten to get going.
    assert await burst(TurnPacer(None)) == [10] * 10


async def test_a_turn_waiting_on_the_model_holds_no_place() -> None:
    pacer = TurnPacer(1)
    all_in_the_model = asyncio.Barrier(3)

    async def turn() -> None:
        async with pacer.turn(), pacer.away():
            await all_in_the_model.wait()  # only passes when all three wait on the model at once

    async with asyncio.timeout(5):
        await asyncio.gather(turn(), turn(), turn())
    assert pacer.in_use == 0


async def test_a_returning_turn_goes_before_turns_that_have_not_started() -> None:
    pacer = TurnPacer(1)
    order: list[str] = []
    model_answered, second_done = asyncio.Event(), asyncio.Event()

    async def first() -> None:
        async with pacer.turn():
            order.append("first starts")
            async with pacer.away():
                await model_answered.wait()
            order.append("first finishes")

    async def later(name: str, done: asyncio.Event | None = None) -> None:
        async with pacer.turn():
            order.append(name)
            if done is not None:
                await done.wait()

    one = asyncio.create_task(first())
    await settle()  # the first turn waits on the model, its place free
    two = asyncio.create_task(later("second", second_done))
    await settle()  # the second takes the place
    model_answered.set()
    await settle()  # the first is back, and waits for a place
    three = asyncio.create_task(later("third"))
    await settle()  # a new turn waits too, after it
    assert pacer.waiting == 2
    second_done.set()
    await asyncio.gather(one, two, three)
    assert order == ["first starts", "second", "first finishes", "third"]


async def test_a_turn_cancelled_while_waiting_for_a_place_loses_none() -> None:
    pacer = TurnPacer(1)
    hold = asyncio.Event()

    async def holder() -> None:
        async with pacer.turn():
            await hold.wait()

    async def waiter() -> None:
        async with pacer.turn():
            pytest.fail("a cancelled waiter must not compute")

    holding = asyncio.create_task(holder())
    await settle()
    waiting = asyncio.create_task(waiter())
    await settle()
    assert pacer.waiting == 1
    waiting.cancel()
    await asyncio.gather(waiting, return_exceptions=True)
    hold.set()
    await holding
    assert pacer.in_use == 0 and pacer.waiting == 0
    async with asyncio.timeout(1), pacer.turn():  # the place is free again
        assert pacer.in_use == 1


async def test_a_turn_cancelled_while_taking_its_place_back_loses_none() -> None:
    pacer = TurnPacer(1)
    hold = asyncio.Event()
    answered = asyncio.Event()

    async def holder() -> None:
        async with pacer.turn():
            await hold.wait()

    async def returning() -> None:
        async with pacer.turn(), pacer.away():
            await answered.wait()

    away = asyncio.create_task(returning())
    await settle()
    holding = asyncio.create_task(holder())  # takes the place the returning turn gave up
    await settle()
    answered.set()
    await settle()
    assert pacer.waiting == 1  # the returning turn waits to take its place back
    away.cancel()
    await asyncio.gather(away, return_exceptions=True)
    hold.set()
    await holding
    assert pacer.in_use == 0 and pacer.waiting == 0


async def test_a_task_of_a_turn_that_ended_gives_its_place_back() -> None:
    """The chat route's place is shared with the task that answers (`Services.shielded`). If the route ends
    first (its client left) while that task waits on the model, the task must not keep the place for good."""
    pacer = TurnPacer(1)
    answered = asyncio.Event()

    async def answer() -> None:
        # asked inside the route's place, so it is the same place
        async with pacer.turn(), pacer.away():
            await answered.wait()

    async with pacer.turn():
        answering = asyncio.create_task(answer())  # copies the context, and so the place
        await settle()
        assert pacer.in_use == 0  # given up while it waits on the model
    answered.set()
    await answering
    assert pacer.in_use == 0 and pacer.waiting == 0


async def test_asking_again_inside_a_turn_is_the_same_place() -> None:
    pacer = TurnPacer(1)
    async with asyncio.timeout(1), pacer.turn(), pacer.turn():  # would wait for ever for a second place
        assert pacer.in_use == 1
    assert pacer.in_use == 0


def test_a_pacer_needs_a_place() -> None:
    with pytest.raises(ValueError, match="at least one place"):
        TurnPacer(0)


async def test_turns_waiting_for_a_place_are_a_gauge() -> None:
    reader = InMemoryMetricReader()
    telemetry = Telemetry(TracerProvider(), MeterProvider(metric_readers=[reader]))
    pacer = TurnPacer(1)
    telemetry.turns_waiting = lambda: pacer.waiting
    hold = asyncio.Event()

    async def turn() -> None:
        async with pacer.turn():
            await hold.wait()

    turns = [asyncio.create_task(turn()) for _ in range(3)]
    await settle()
    assert waiting_gauge(reader) == 2  # one computes, two wait
    hold.set()
    await asyncio.gather(*turns)
    assert waiting_gauge(reader) == 0


def waiting_gauge(reader: InMemoryMetricReader) -> int:
    data = reader.get_metrics_data()
    assert data is not None
    [value] = [
        point.value  # type: ignore[attr-defined]
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == "support.turns.waiting"
        for point in metric.data.data_points
    ]
    return int(value)
