"""The customer's chat: create a conversation, send a message (answered by a run), read the conversation."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from sqlmodel import col, select
from sse_starlette import EventSourceResponse

from agent.errors import ConversationBusy, ConversationOwned, RateLimited
from agent.loop import EventSink
from agent.run_store import ConversationRef
from agent.tables import Approval, Conversation
from api.auth import AnyPrincipal, CustomerPrincipal
from api.errors import ApiError
from api.idempotency import IdempotencyKeys, request_hash
from api.inputs import ConversationId, StorableText
from api.schemas import ConversationOut, error_responses
from api.services import Services, services_of
from api.views import conversation_view, message_view, run_view

router = APIRouter(prefix="/v1/conversations", tags=["conversations"])


class MessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    content: StorableText
    """Refused (422) with a NUL or a lone surrogate rather than repaired: the customer sees at once that the
    message was not taken, and nothing the model SDK cannot encode ever reaches it (an encoding failure there
    would count against the provider's circuit breaker, for every customer)."""


@router.post("", status_code=201)
async def create_conversation(request: Request, principal: CustomerPrincipal) -> dict[str, Any]:
    conversation = await services_of(request).runs.create_conversation(principal.id)
    return {
        "id": conversation.id,
        "customer_id": conversation.customer_id,
        "created_at": conversation.created_at.isoformat(),
    }


@router.get(
    "",
    operation_id="list_conversations",
    response_model=list[ConversationOut],
    responses=error_responses(401, 403, 422),
)
async def list_conversations(
    request: Request, principal: CustomerPrincipal, limit: Annotated[int, Query(ge=1, le=100)] = 20
) -> list[ConversationOut]:
    """The signed-in customer's own conversations, newest first."""
    found = await services_of(request).runs.conversations_of(principal.id, limit=limit)
    return [ConversationOut(id=c.id, customer_id=c.customer_id, created_at=c.created_at) for c in found]


def checked_content(body: MessageIn, limit: int) -> str:
    size = len(body.content.encode("utf-8", "surrogatepass"))
    if size > limit:
        raise ApiError(413, "message_too_large", f"a message can be at most {limit} bytes; this one is {size}")
    if not body.content.strip():
        raise ApiError(422, "empty_message", "the message is empty")
    return body.content


@router.post("/{conversation_id}/messages", response_model=None)
async def post_message(
    request: Request,
    principal: CustomerPrincipal,
    conversation_id: ConversationId,
    body: MessageIn,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> JSONResponse | EventSourceResponse:
    """Answer a customer message: JSON when the turn is done, or, with `Accept: text/event-stream`, the turn as
    Server-Sent Events while it happens. Either way the message is stored before the model is called, and the
    run completes and is stored even if the client goes away."""
    services = services_of(request)
    content = checked_content(body, services.settings.max_message_bytes)
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
                return EventSourceResponse(replayed_events(replay), headers={"Idempotent-Replayed": "true"})
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
        response = {"message": message_view(stored), "run": None, "handoff": {"id": owned.id, "status": owned.status}}
        if idempotency_key is not None:
            await keys.complete(principal.id, idempotency_key, response)
        if streaming:
            return EventSourceResponse(replayed_events(response))
        return JSONResponse(response)
    except (ConversationBusy, RateLimited):
        if idempotency_key is not None:
            await keys.release(principal.id, idempotency_key)
        raise

    run = started.run
    # The customer wrote instead of answering: an open confirmation is declined, and this message is answered.
    if started.so_far is None or started.so_far.open_confirmations:
        await services.confirmations.withdraw_open(conversation.id)

    async def answer(events: EventSink | None = None) -> dict[str, Any]:
        result = await services.loop.answer(
            run,
            content,
            events=events,
            spent_budget=started.spent_budget,
            so_far=started.so_far,
            history=started.history,
        )
        response = {"message": message_view(started.message), "run": run_view(result.run, result.approval)}
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
    """The turn's events in order. The run is a task the service owns: if the client disconnects, this
    generator is cancelled and the run carries on to its stored end."""
    queue: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()

    async def sink(event: str, data: dict[str, Any]) -> None:
        queue.put_nowait((event, data))

    async def run_and_close() -> dict[str, Any]:
        try:
            response = await answer(sink)
        except Exception:
            queue.put_nowait(("run.failed", {"run_id": run_id, "error": "the turn could not be completed"}))
            raise
        queue.put_nowait((final_event(response), response))
        return response

    task = services.spawn(run_and_close())
    yield sse("run.started", {"run_id": run_id, "conversation_id": conversation_id})
    while True:
        event, data = await queue.get()
        yield sse(event, data)
        if event in ("run.completed", "run.failed"):
            break
    await task


async def replayed_events(response: dict[str, Any]) -> AsyncIterator[dict[str, str]]:
    if response["run"] is None:  # kept for the person who owns the conversation; no run answered it
        yield sse("message.stored", response)
        return
    yield sse("run.started", {"run_id": response["run"]["id"], "replayed": True})
    yield sse(final_event(response), response)


def final_event(response: dict[str, Any]) -> str:
    return "run.failed" if response["run"]["status"] == "failed" else "run.completed"


def sse(event: str, data: dict[str, Any]) -> dict[str, str]:
    return {"event": event, "data": json.dumps(data, ensure_ascii=False)}


@router.get("/{conversation_id}")
async def read_conversation(
    request: Request, principal: AnyPrincipal, conversation_id: ConversationId
) -> dict[str, Any]:
    services = services_of(request)
    conversation = await services.runs.conversation_for(conversation_id, principal)
    messages = await services.runs.messages(conversation.id)
    runs = await services.runs.runs(conversation.id)
    async with services.database.session(readonly=True) as session:
        approvals = (await session.exec(select(Approval).where(col(Approval.conversation_id) == conversation.id))).all()
    return conversation_view(conversation, messages, runs, {a.run_id: a for a in approvals})
