"""The conversation feed: `GET /v1/conversations/{id}/events`, everything that happens in a conversation as
Server-Sent Events, each with its stored id, resumable with `Last-Event-ID` on any replica (docs/feed.md)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Annotated

from fastapi import APIRouter, Header, Query
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.background import BackgroundTask

from agent import ConversationEvent
from api.auth import AnyPrincipal
from api.deps import AppServices
from api.feed_hub import BATCH, FeedHub
from api.inputs import EVENT_ID_MAX, ConversationId, event_id
from api.schemas import error_responses
from api.schemas.streams import event_stream_response
from api.sse import feed_sse

router = APIRouter(prefix="/v1/conversations", tags=["conversations"])
RETRY_MS = 2000
"""How long a disconnected client waits before reconnecting (sent as the stream's `retry:`)."""
PING_S = 15
SEND_TIMEOUT_S = 30
"""A client that takes longer than this to accept one event is disconnected (it resumes with Last-Event-ID)."""


@router.get(
    "/{conversation_id}/events",
    response_class=EventSourceResponse,
    responses={
        **event_stream_response(
            "The conversation's events as Server-Sent Events, each with its feed id (`id:`), kind (`event:`) and "
            "JSON `data:` (docs/feed.md lists the kinds and their data)."
        ),
        **error_responses(401, 403, 404, 422, 429, 503),
    },
)
async def conversation_feed(
    services: AppServices,
    principal: AnyPrincipal,
    conversation_id: ConversationId,
    after: Annotated[
        str | None,
        Query(
            description="Resume after this event id (if no Last-Event-ID).",
            json_schema_extra={"pattern": "^[0-9]+$", "maxLength": len(str(EVENT_ID_MAX))},
        ),
    ] = None,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> EventSourceResponse:
    """Everything that happens in the conversation, whoever caused it: stored events after `Last-Event-ID` (or
    `?after=`; from the start with neither), then new ones as they are stored, by any server process. For the
    conversation's own customer, or staff; anyone else gets 404."""
    conversation = await services.runs.conversation_for(conversation_id, principal)
    start = resume_point(last_event_id, after)
    release = services.feed.open_stream(principal)
    return EventSourceResponse(
        feed(services.feed, conversation.id, start, release),
        ping=PING_S,
        send_timeout=SEND_TIMEOUT_S,
        background=BackgroundTask(release),
    )


def resume_point(last_event_id: str | None, after: str | None) -> int:
    """The header wins over the query (a browser's EventSource sets it on reconnects, after the page's `?after`).
    Both are read the one way (`api.inputs.event_id`): ASCII digits within the id column's range, else 422."""
    if last_event_id is not None and last_event_id.strip():
        return event_id(last_event_id.strip(), "Last-Event-ID")
    return event_id(after, "after") if after is not None else 0


async def feed(
    hub: FeedHub, conversation_id: str, after: int, release: Callable[[], None]
) -> AsyncIterator[dict[str, str] | ServerSentEvent]:
    try:
        yield ServerSentEvent(retry=RETRY_MS)
        last = after
        while True:  # catch up in bounded batches before waiting for new events
            batch = await hub.replay(conversation_id, last)
            for stored in batch:
                last = _id(stored)
                yield feed_sse(stored)
            if len(batch) < BATCH:
                break
        async with hub.subscribe(conversation_id, last) as subscriber:
            while (new := await subscriber.queue.get()) is not None:
                yield feed_sse(new)
    finally:
        release()


def _id(stored: ConversationEvent) -> int:
    assert stored.id is not None
    return stored.id
