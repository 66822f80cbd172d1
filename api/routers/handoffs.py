"""The human side of `transfer_to_human_agents`: the queue of handed-off conversations, claim, reply, close.

Staff only, like approvals. One person owns a claimed conversation; while they do, the customer's messages
reach them and start no model run. Closing hands the conversation back to the assistant (`bot`) or ends it
(`resolved`).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import Field

from agent import ANY_OPEN, HandoffFilter, HandoffFilterName, message_view
from api.auth import StaffPrincipal
from api.deps import AppServices
from api.inputs import HandoffId, message_text
from api.routers.conversations import MessageIn
from api.schemas import HandoffDetailOut, HandoffOut, StaffReplyOut, error_responses
from api.schemas.base import RequestBody

router = APIRouter(prefix="/v1/handoffs", tags=["handoffs"], responses=error_responses(401, 403, 503))


class CloseIn(RequestBody):
    outcome: Literal["bot", "resolved"] = Field(
        description="`bot`: the assistant answers the customer again; `resolved`: the matter is settled."
    )


@router.get("", responses=error_responses(422))
async def list_handoffs(
    services: AppServices,
    staff: StaffPrincipal,
    status: Annotated[
        HandoffFilterName,
        Query(description="`open` is queued and claimed together."),
    ] = ANY_OPEN,
    mine: Annotated[bool, Query(description="Only those I claimed.")] = False,
    limit: Annotated[int, Query(ge=1, le=200, description="At most this many.")] = 100,
) -> list[HandoffOut]:
    """Oldest first. `open` is queued and claimed; `mine=true` keeps only those I claimed."""
    where = HandoffFilter(status=status, claimed_by=staff.id if mine else None)
    return [HandoffOut.from_record(h) for h in await services.handoffs.find(where, limit=limit)]


@router.get("/{handoff_id}", responses=error_responses(404, 422))
async def read_handoff(services: AppServices, _: StaffPrincipal, handoff_id: HandoffId) -> HandoffDetailOut:
    """One hand-off with its conversation so far."""
    handoff = await services.handoffs.get(handoff_id)
    messages = await services.runs.messages(handoff.conversation_id)
    return HandoffDetailOut(
        **HandoffOut.from_record(handoff).model_dump(), conversation=[message_view(m) for m in messages]
    )


@router.post("/{handoff_id}/claim", responses=error_responses(404, 409, 422))
async def claim_handoff(services: AppServices, staff: StaffPrincipal, handoff_id: HandoffId) -> HandoffOut:
    """Take the conversation. Of two people claiming at once, one gets 200 and the other 409."""
    return HandoffOut.from_record(await services.handoffs.claim(handoff_id, staff))


@router.post("/{handoff_id}/messages", responses=error_responses(404, 409, 413, 422))
async def reply_to_handoff(
    services: AppServices, staff: StaffPrincipal, handoff_id: HandoffId, body: MessageIn
) -> StaffReplyOut:
    """Write to the customer as the owner of the hand-off: a message with role `agent` and my staff id."""
    content = message_text(body.content, services.settings.max_message_bytes)
    message = await services.handoffs.reply(handoff_id, staff, content)
    return StaffReplyOut(
        message=message_view(message), handoff=HandoffOut.from_record(await services.handoffs.get(handoff_id))
    )


@router.post("/{handoff_id}/close", responses=error_responses(404, 409, 413, 422))
async def close_handoff(
    services: AppServices, staff: StaffPrincipal, handoff_id: HandoffId, body: CloseIn
) -> HandoffOut:
    """Close as the owner (or any open hand-off as a supervisor). `bot` tells the customer the assistant is back,
    and the assistant answers what the customer wrote meanwhile that the team did not answer."""
    return HandoffOut.from_record(await services.handoff_desk.close(handoff_id, staff, body.outcome))
