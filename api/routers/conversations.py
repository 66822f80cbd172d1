"""The customer's chat: create a conversation, send a message (answered by a run), read the conversation."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from sqlmodel import col, select

from agent.errors import ConversationBusy
from agent.tables import Approval
from api.auth import AnyPrincipal, CustomerPrincipal
from api.errors import ApiError
from api.idempotency import IdempotencyKeys, request_hash
from api.services import Services
from api.views import conversation_view, message_view, run_view

router = APIRouter(prefix="/v1/conversations", tags=["conversations"])


class MessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    content: str


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


@router.post("", status_code=201)
async def create_conversation(request: Request, principal: CustomerPrincipal) -> dict[str, Any]:
    conversation = await services_of(request).runs.create_conversation(principal.id)
    return {
        "id": conversation.id,
        "customer_id": conversation.customer_id,
        "created_at": conversation.created_at.isoformat(),
    }


def checked_content(body: MessageIn, limit: int) -> str:
    size = len(body.content.encode("utf-8", "surrogatepass"))
    if size > limit:
        raise ApiError(413, "message_too_large", f"a message can be at most {limit} bytes; this one is {size}")
    if not body.content.strip():
        raise ApiError(422, "empty_message", "the message is empty")
    return body.content


@router.post("/{conversation_id}/messages")
async def post_message(
    request: Request,
    conversation_id: str,
    body: MessageIn,
    principal: CustomerPrincipal,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> JSONResponse:
    services = services_of(request)
    content = checked_content(body, services.settings.max_message_bytes)
    conversation = await services.runs.conversation_for(conversation_id, principal)
    keys = IdempotencyKeys(services.database)
    if idempotency_key is not None:
        replay = await keys.claim(
            principal.id, idempotency_key, conversation.id, request_hash(conversation.id, content)
        )
        if replay is not None:
            return JSONResponse(replay, headers={"Idempotent-Replayed": "true"})
    try:
        run = await services.runs.start_turn(conversation, content)
    except ConversationBusy:
        if idempotency_key is not None:
            await keys.release(principal.id, idempotency_key)
        raise
    result = await services.shielded(services.loop.answer(run, content))
    messages = await services.runs.messages(conversation.id)
    customer_message = next(m for m in messages if m.run_id == run.id and m.role == "customer")
    response = {"message": message_view(customer_message), "run": run_view(result.run, result.approval)}
    if idempotency_key is not None:
        await keys.complete(principal.id, idempotency_key, response)
    return JSONResponse(response)


@router.get("/{conversation_id}")
async def read_conversation(request: Request, conversation_id: str, principal: AnyPrincipal) -> dict[str, Any]:
    services = services_of(request)
    conversation = await services.runs.conversation_for(conversation_id, principal)
    messages = await services.runs.messages(conversation.id)
    runs = await services.runs.runs(conversation.id)
    async with services.database.session(readonly=True) as session:
        approvals = (await session.exec(select(Approval).where(col(Approval.conversation_id) == conversation.id))).all()
    return conversation_view(conversation, messages, runs, {a.run_id: a for a in approvals})
