"""A worker computes a few turns at a time and serves the rest in arrival order, so a burst is first-come first-served.

An event loop switches task at every await. When a hundred messages (or a hundred model answers) reach a worker
at once, each turn's few milliseconds of work are cut into slices between its database round trips, and the loop
serves the slices round-robin: every turn of the burst waits for nearly the whole burst's work before it reaches
its next model call, so the next burst comes back just as bunched, and the wait is paid again at every step.
Letting only a few turns compute at once (enough to keep the processor busy while some wait on the database), and
the rest wait in arrival order, does the same work in the same total time but finishes each turn's part as early
as it can: the first turns leave for the model while the last are still waiting, and the bursts that follow come
back spread out. Measured with `benchmarks/throughput.py` (200 conversations): the 99th percentile of the
latency the service adds roughly halved, and the turns per second rose.

A new conversation takes a place too, for the moment it takes to store it. A burst of them (every widget on a page
opening at once) would otherwise check out a database connection each at the same moment: past the pool's kept
connections, each extra one is opened for the burst and closed after it, a server process started and stopped per
request (measured: about ten times the connections opened, and 8-10% more CPU per turn, at 200 conversations).
Paced, a worker's database work stays within a few connections.

A turn holds a place while it computes and gives it up while it waits on something outside the process (a model
call), so a slow model never holds a place. When it comes back it is served before turns that have not started:
work already begun finishes first. A turn never waits for a place while it holds a database transaction (places
are taken at the start of a turn and after a model call), so a place-holder waiting on a row lock can never be
waiting on a turn that is itself waiting for a place.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(slots=True)
class _Place:
    """The place of one turn. Tasks the turn starts (`Services.shielded`) share it through their copied context."""

    pacer: TurnPacer
    held: bool = False
    ended: bool = False


_current: ContextVar[_Place | None] = ContextVar("turn_place", default=None)


class TurnPacer:
    """At most `places` turns of this process compute at once; `None` lets every turn compute at once."""

    def __init__(self, places: int | None) -> None:
        if places is not None and places < 1:
            raise ValueError("a pacer needs at least one place (or None for no limit)")
        self.places = places
        self._free = places or 0
        self._returning: deque[asyncio.Future[None]] = deque()
        self._new: deque[asyncio.Future[None]] = deque()

    @property
    def in_use(self) -> int:
        return 0 if self.places is None else self.places - self._free

    @property
    def waiting(self) -> int:
        return sum(not granted.done() for queue in (self._returning, self._new) for granted in queue)

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """Hold a place for a turn's work, after the turns that asked earlier. Inside a turn that holds a place
        already (the chat route takes one when the message arrives; the loop asks again), it is that place."""
        outer = _current.get()
        if self.places is None or (outer is not None and outer.pacer is self and outer.held):
            yield
            return
        await self._take(self._new)
        place = _Place(self, held=True)
        token = _current.set(place)
        try:
            yield
        finally:
            _current.reset(token)
            place.ended = True
            if place.held:
                place.held = False
                self._give_back()

    @asynccontextmanager
    async def away(self) -> AsyncIterator[None]:
        """Give the current turn's place up while it waits outside the process, and take one back, before turns
        that have not started, when the wait is over. Outside a paced turn this does nothing."""
        place = _current.get()
        if place is None or place.pacer is not self or not place.held:
            yield
            return
        place.held = False
        self._give_back()
        try:
            yield
        finally:
            await self._take(self._returning)
            if place.ended:  # the turn that owned the place finished while this task waited (its client left)
                self._give_back()
            else:
                place.held = True

    async def _take(self, queue: deque[asyncio.Future[None]]) -> None:
        if self._free > 0 and not self._returning and not self._new:
            self._free -= 1
            return
        granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue.append(granted)
        try:
            await granted
        except asyncio.CancelledError:
            if granted.done() and not granted.cancelled():
                self._give_back()  # handed a place in the instant it was cancelled: pass it on
            else:
                queue.remove(granted)
            raise

    def _give_back(self) -> None:
        """Hand the place straight to the longest waiter, returning turns first, so nobody can overtake it."""
        for queue in (self._returning, self._new):
            while queue:
                granted = queue.popleft()
                if not granted.done():
                    granted.set_result(None)
                    return
        self._free += 1
