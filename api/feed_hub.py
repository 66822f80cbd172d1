"""The conversation feed's delivery: one poller per process reads new events for every connected client.

A feed client first catches up on its own (stored events after its `Last-Event-ID`, in bounded batches), then
subscribes here. The hub keeps, per watched conversation, the lowest id any of its subscribers has seen, and
every `interval_s` asks the database for everything newer in all watched conversations with ONE indexed query,
then hands each subscriber the rows it has not seen. Events written by any process reach every process this way,
since they are read from the table; the cost is one query per interval per process, however many clients are
connected. A subscriber that stops reading (its queue full) is dropped: its stream ends and the client resumes
with `Last-Event-ID`, losing nothing.

Each customer may hold at most `streams_per_customer` feeds open in a process at once (`open_stream`): every one
is a connection, a queue and a subscription here, so without a bound one customer could hold hundreds.

Per-conversation cursors, not one global cursor: ids are drawn when a transaction inserts, not when it commits,
so across conversations a lower id may become visible after a higher one (within one conversation
`agent.conversations.feed.record` makes them commit in order).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress

from sqlalchemy import and_, or_
from sqlmodel import col, select

from agent import ConversationEvent, events_after
from api.errors import ApiError
from basics.database import Database
from basics.principal import Principal

log = logging.getLogger(__name__)

BATCH = 500
"""At most this many events per read, for a catching-up client and for the poller alike."""
QUEUE_LIMIT = 1000
CONVERSATIONS_PER_QUERY = 200


class Subscriber:
    """One connected feed client: the id of the last event it has, and the events waiting for it."""

    def __init__(self, conversation_id: str, after: int) -> None:
        self.conversation_id = conversation_id
        self.after = after
        self.queue: asyncio.Queue[ConversationEvent | None] = asyncio.Queue(QUEUE_LIMIT + 1)
        self.dropped = False

    def offer(self, event: ConversationEvent) -> None:
        assert event.id is not None
        if self.dropped or event.id <= self.after:
            return
        if self.queue.qsize() >= QUEUE_LIMIT:
            self.dropped = True
            self.queue.put_nowait(None)  # end of stream: the client resumes from what it has
            return
        self.after = event.id
        self.queue.put_nowait(event)


STREAM_RETRY_AFTER_S = 10
"""What a customer over the stream limit is told to wait: until one of their other feeds has closed."""


class FeedHub:
    def __init__(self, database: Database, *, interval_s: float, streams_per_customer: int | None = None) -> None:
        self.database = database
        self.interval_s = interval_s
        self.streams_per_customer = streams_per_customer
        self.open_streams: dict[str, int] = {}
        """Feeds each customer holds open in this process now."""
        self._subscribers: dict[str, set[Subscriber]] = {}
        self._poller: asyncio.Task[None] | None = None
        self.polls = 0
        """Database reads the poller made (for tests and the curious: one per interval, not one per client)."""

    def open_stream(self, principal: Principal) -> Callable[[], None]:
        """Count a feed the principal opens, or refuse it (429) when a customer already holds the limit. Returns
        the release, which may be called more than once: the stream's end and the response's clean-up both call
        it, as either may be the one that runs (a client gone before the stream started never starts it)."""
        if not principal.is_customer or self.streams_per_customer is None:
            return lambda: None
        held = self.open_streams.get(principal.id, 0)
        if held >= self.streams_per_customer:
            raise ApiError(
                429,
                "too_many_streams",
                f"at most {self.streams_per_customer} conversation feeds open at once; close one first",
                headers={"Retry-After": str(STREAM_RETRY_AFTER_S)},
            )
        self.open_streams[principal.id] = held + 1
        released = False

        def release() -> None:
            nonlocal released
            if released:
                return
            released = True
            left = self.open_streams.get(principal.id, 1) - 1
            if left > 0:
                self.open_streams[principal.id] = left
            else:
                self.open_streams.pop(principal.id, None)

        return release

    async def replay(self, conversation_id: str, after: int) -> list[ConversationEvent]:
        """Stored events after `after`, oldest first, at most `BATCH`: a client catching up reads until short."""
        async with self.database.session(readonly=True) as session:
            return await events_after(session, conversation_id, after, limit=BATCH)

    @asynccontextmanager
    async def subscribe(self, conversation_id: str, after: int) -> AsyncIterator[Subscriber]:
        """New events of the conversation after `after`, for as long as the context is open."""
        subscriber = Subscriber(conversation_id, after)
        self._subscribers.setdefault(conversation_id, set()).add(subscriber)
        if self._poller is None or self._poller.done():
            self._poller = asyncio.get_running_loop().create_task(self._poll_forever())
        try:
            yield subscriber
        finally:
            watching = self._subscribers.get(conversation_id)
            if watching is not None:
                watching.discard(subscriber)
                if not watching:
                    del self._subscribers[conversation_id]

    async def close(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with suppress(asyncio.CancelledError):
                await self._poller
        for watching in self._subscribers.values():
            for subscriber in watching:
                subscriber.queue.put_nowait(None)

    async def _poll_forever(self) -> None:
        while self._subscribers:
            more = False
            try:
                more = await self.poll()
            except Exception:  # a passing database error must not end every client's feed
                log.exception("reading new conversation events failed; trying again")
            if not more:
                await asyncio.sleep(self.interval_s)

    async def poll(self) -> bool:
        """One read for every watched conversation: rows newer than the lowest id its subscribers have. True
        when a read came back full, so there is more to read at once."""
        cursors = {
            conversation_id: min(s.after for s in watching)
            for conversation_id, watching in self._subscribers.items()
            if watching
        }
        items = sorted(cursors.items())
        full = False
        for start in range(0, len(items), CONVERSATIONS_PER_QUERY):
            chunk = items[start : start + CONVERSATIONS_PER_QUERY]
            newer = or_(
                *(
                    and_(col(ConversationEvent.conversation_id) == cid, col(ConversationEvent.id) > after)
                    for cid, after in chunk
                )
            )
            async with self.database.session(readonly=True) as session:
                rows = await session.exec(
                    select(ConversationEvent).where(newer).order_by(col(ConversationEvent.id)).limit(BATCH)
                )
                found = list(rows.all())
            self.polls += 1
            full = full or len(found) == BATCH
            for event in found:
                for subscriber in list(self._subscribers.get(event.conversation_id, ())):
                    subscriber.offer(event)
        return full
