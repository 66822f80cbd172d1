"""The customer's chat: create a conversation, send a message (answered by a run), read the conversation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse
from sqlmodel import col, select
from sse_starlette import EventSourceResponse

from agent import (
    OPEN_HANDOFF,
    Approval,
    Conversation,
    ConversationBusy,
    ConversationEvent,
    ConversationOwned,
    ConversationRef,
    EventSink,
    Flag,
    FlagKind,
    Handoff,
    RateLimited,
    RunFlag,
    RunStatus,
    Verdict,
    events_after,
    message_view,
    run_view,
)
from api.auth import AnyPrincipal, CustomerPrincipal
from api.deps import AppServices
from api.idempotency import IdempotencyKeys, request_hash
from api.inputs import BodyId, Comment, ConversationId, StorableText, message_text
from api.schemas import (
    ConversationDetailOut,
    ConversationOut,
    FeedbackOut,
    HandoffRefOut,
    SendMessageOut,
    error_responses,
)
from api.schemas.base import RequestBody
from api.schemas.streams import event_stream_response
from api.services import Services
from api.sse import feed_sse, sse

router = APIRouter(prefix="/v1/conversations", tags=["conversations"])
FEED_BATCH = 500


class MessageIn(RequestBody):
    # Text with a NUL or a lone surrogate is refused (422) rather than repaired: the customer sees at once that
    # the message was not taken, and nothing the model SDK cannot encode ever reaches it (an encoding failure
    # there would count against the provider's circuit breaker, for every customer).
    content: StorableText
    """The message, up to 8 KB of UTF-8 by default; not empty."""


@router.post("", status_code=201, responses=error_responses(401, 403, 429, 503))
async def create_conversation(services: AppServices, principal: CustomerPrincipal) -> ConversationOut:
    """Start a conversation for the signed-in customer; at most `SUPPORT_CONVERSATIONS_PER_HOUR` an hour (429
    with Retry-After past it)."""
    # Paced with the turns (`agent/limits/pacing.py`): a burst of new conversations waits its turn instead of opening a
    # database connection each.
    async with services.loop.pacer.turn():
        return ConversationOut.from_record(await services.runs.create_conversation(principal.id))


@router.get("", responses=error_responses(401, 403, 422, 503))
async def list_conversations(
    services: AppServices,
    principal: CustomerPrincipal,
    limit: Annotated[int, Query(ge=1, le=100, description="At most this many.")] = 20,
) -> list[ConversationOut]:
    """The signed-in customer's own conversations, newest first."""
    found = await services.runs.conversations_of(principal.id, limit=limit)
    return [ConversationOut.from_record(c) for c in found]


@router.post(
    "/{conversation_id}/messages",
    response_model=None,
    responses={
        **event_stream_response(
            "The answered turn as JSON; or, with `Accept: text/event-stream`, the same turn as Server-Sent Events "
            "while it happens (`run.started`, progress events, then `run.completed` or `run.failed` whose data is "
            "this JSON body).",
            json_model=SendMessageOut,
            headers={
                "Idempotent-Replayed": {
                    "description": "`true` when this is the stored answer to an earlier request with the same "
                    "`Idempotency-Key`.",
                    "schema": {"type": "string"},
                }
            },
        ),
        **error_responses(401, 403, 404, 409, 413, 422, 429, 503),
    },
)
async def send_message(
    request: Request,
    services: AppServices,
    principal: CustomerPrincipal,
    conversation_id: ConversationId,
    body: MessageIn,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> JSONResponse | EventSourceResponse:
    """Answer a customer message: JSON when the turn is done, or, with `Accept: text/event-stream`, the turn as
    Server-Sent Events while it happens. Either way the message is stored before the model is called, and the
    run completes and is stored even if the client goes away."""
    content = message_text(body.content, services.settings.max_message_bytes)
    # The whole message, from its claim to its answer, is one turn of the worker's pacing (`agent/limits/pacing.py`):
    # in a burst, the messages that came first are answered first.
    async with services.loop.pacer.turn():
        return await _send_message(request, services, principal, conversation_id, content, idempotency_key)


async def _send_message(
    request: Request,
    services: Services,
    principal: CustomerPrincipal,
    conversation_id: str,
    content: str,
    idempotency_key: str | None,
) -> JSONResponse | EventSourceResponse:
    # Without an idempotency key, the claim that starts the turn checks that the conversation is the customer's
    # (and says not found otherwise): no read of its own. A key is only stored for a conversation seen first.
    conversation: Conversation | ConversationRef = ConversationRef(conversation_id, principal.id)
    streaming = "text/event-stream" in request.headers.get("accept", "")
    keys = IdempotencyKeys(services.database, services.lease)
    if idempotency_key is not None:
        conversation = await services.runs.conversation_for(conversation_id, principal)
        # A replay is answered before any limit is counted: a retry of an answered request is never refused.
        replay = await keys.claim(
            principal.id, idempotency_key, conversation.id, request_hash(conversation.id, content)
        )
        if replay is not None:
            if streaming:
                return EventSourceResponse(
                    replayed_events(replay, conversation.id), headers={"Idempotent-Replayed": "true"}
                )
            return JSONResponse(replay, headers={"Idempotent-Replayed": "true"})
    try:
        started = await services.runs.start_turn(conversation, content, idempotency_key=idempotency_key)
    except ConversationOwned:
        # A person owns the conversation: the message is theirs to answer, and no model run starts.
        owned = await services.handoffs.owned(conversation.id)
        if owned is None:  # closed this very moment: the client sends it again, to the assistant
            if idempotency_key is not None:
                await keys.release(principal.id, idempotency_key)
            raise ConversationBusy("the conversation is being handed back to the assistant") from None
        stored = await services.handoffs.customer_wrote(owned, content)
        response = SendMessageOut(
            message=message_view(stored), run=None, handoff=HandoffRefOut(id=owned.id, status=owned.status)
        ).model_dump(mode="json")
        if idempotency_key is not None:
            await keys.complete(principal.id, idempotency_key, response)
        if streaming:
            return EventSourceResponse(replayed_events(response, conversation.id))
        return JSONResponse(response)
    except (ConversationBusy, RateLimited):
        if idempotency_key is not None:
            await keys.release(principal.id, idempotency_key)
        raise

    run = started.run
    # The customer wrote instead of answering: an open confirmation is declined, and this message is answered.
    if started.so_far is None or started.so_far.open_confirmations:
        await services.confirmations.withdraw_open(conversation.id, principal)

    async def answer(events: EventSink | None = None) -> dict[str, Any]:
        result = await services.loop.answer(
            run,
            content,
            events=events,
            known=started.known,
        )
        response = SendMessageOut(message=message_view(started.message), run=run_view(result)).model_dump(mode="json")
        if idempotency_key is not None:
            await keys.complete(principal.id, idempotency_key, response)
        return response

    if not streaming:
        return JSONResponse(await services.shielded(answer()))
    return EventSourceResponse(streamed_turn(services, run.id, conversation.id, answer), ping=15)


async def streamed_turn(
    services: Services,
    run_id: str,
    conversation_id: str,
    answer: Callable[[EventSink], Awaitable[dict[str, Any]]],
) -> AsyncIterator[dict[str, str]]:
    """The turn's events in order, in the feed's shapes (docs/feed.md): the stored events of the run with their
    feed ids (the customer's message and `run.started` first, the rest once the run has ended), and between them
    the live ones (reply text, tool progress) with none. The run is a task the service owns: if the client
    disconnects, this generator is cancelled and the run carries on to its stored end."""
    queue: asyncio.Queue[tuple[str, dict[str, Any]] | None] = asyncio.Queue()

    async def sink(event: str, data: dict[str, Any]) -> None:
        queue.put_nowait((event, data))

    async def run_and_close() -> dict[str, Any]:
        try:
            return await answer(sink)
        finally:
            queue.put_nowait(None)

    task = services.spawn(run_and_close())
    last = 0
    for stored in await run_events(services, conversation_id, run_id, after=0):
        last = stored.id or last
        yield feed_sse(stored)
    while (live := await queue.get()) is not None:
        yield sse(*live)
    try:
        response: dict[str, Any] | None = await asyncio.shield(task)  # a client leaving must not cancel the run
    except Exception:
        response = None
    ended = False
    for stored in await run_events(services, conversation_id, run_id, after=last):
        if stored.kind in LIVE_KINDS:
            continue  # already sent while it happened
        if stored.kind in ("run.completed", "run.failed"):
            ended = True
            if response is not None:  # as the JSON response has it
                stored.data = {**stored.data, "message": response["message"]}
        yield feed_sse(stored)
    if not ended:  # the run could not even be stored as ended: say so, with nothing to resume from
        yield sse("run.failed", {"run_id": run_id, "conversation_id": conversation_id, "run": None})


LIVE_KINDS = ("tool.finished",)
"""Stored kinds the per-message stream sends live, as they happen, and so skips when it sends the stored rest."""


async def run_events(services: Services, conversation_id: str, run_id: str, *, after: int) -> list[ConversationEvent]:
    async with services.database.session(readonly=True) as session:
        return await events_after(session, conversation_id, after, limit=FEED_BATCH, run_id=run_id)


async def replayed_events(response: dict[str, Any], conversation_id: str) -> AsyncIterator[dict[str, str]]:
    """A retried request's first response, as events. No feed ids: the feed itself has the stored events."""
    if response["run"] is None:  # kept for the person who owns the conversation; no run answered it
        yield sse("message.created", {"conversation_id": conversation_id, **response})
        return
    run_id = response["run"]["id"]
    yield sse("run.started", {"conversation_id": conversation_id, "run_id": run_id, "replayed": True})
    yield sse(final_event(response), {"conversation_id": conversation_id, "run_id": run_id, **response})


def final_event(response: dict[str, Any]) -> str:
    return "run.failed" if response["run"]["status"] == RunStatus.FAILED else "run.completed"


class FeedbackIn(RequestBody):
    run_id: BodyId
    """The run whose answer this is about (`run.id` of the message response, `run_id` of the reply's message)."""
    helpful: bool
    """Whether the answer helped."""
    comment: Comment | None = None
    """What the customer would like to add, up to 1,000 characters; optional."""


@router.post("/{conversation_id}/feedback", status_code=201, responses=error_responses(401, 403, 404, 409, 422, 503))
async def give_feedback(
    services: AppServices, principal: CustomerPrincipal, conversation_id: ConversationId, body: FeedbackIn
) -> FeedbackOut:
    """The customer's verdict on one answer of their conversation ("Was this helpful?"): once per answer (409
    `feedback_exists` after that; 409 `no_reply` for an answer still being written). Another customer's
    conversation, or a run that is not this conversation's, is 404. A "no" puts the run in the review queue."""
    conversation = await services.runs.conversation_for(conversation_id, principal)
    given, run = await services.feedback.give(conversation, Verdict(body.run_id, body.helpful, body.comment))
    telemetry = services.loop.telemetry
    telemetry.feedback_given(given.helpful, given.route, given.prompt_version)
    if not given.helpful:
        telemetry.run_flagged(None, run, [Flag.of(FlagKind.THUMBS_DOWN, given.comment)])
    return FeedbackOut(run_id=given.run_id, helpful=given.helpful, comment=given.comment, created_at=given.created_at)


@router.get("/{conversation_id}", responses=error_responses(401, 404, 422, 503))
async def read_conversation(
    services: AppServices, principal: AnyPrincipal, conversation_id: ConversationId
) -> ConversationDetailOut:
    """The conversation with its messages, runs, held calls (answered or not) and open hand-off: for its own
    customer, and for any member of staff. A widget opened again rebuilds its panel from this alone."""
    conversation = await services.runs.conversation_for(conversation_id, principal)
    messages = await services.runs.messages(conversation.id)
    runs = await services.runs.runs(conversation.id)
    async with services.database.session(readonly=True) as session:
        held = (await session.exec(select(Approval).where(col(Approval.conversation_id) == conversation.id))).all()
        open_handoff = (
            await session.exec(
                select(Handoff).where(
                    col(Handoff.conversation_id) == conversation.id, col(Handoff.status).in_(OPEN_HANDOFF)
                )
            )
        ).first()
        flags = (
            await session.exec(
                select(RunFlag).where(col(RunFlag.conversation_id) == conversation.id).order_by(col(RunFlag.id))
            )
        ).all()
    stored_flags = [(f.run_id, Flag(FlagKind(f.kind), f.value)) for f in flags]
    return ConversationDetailOut.from_records(conversation, messages, runs, list(held), open_handoff, stored_flags)
