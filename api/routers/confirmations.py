"""The customer's answer to a confirmation: the only way a write the policy file marks ever runs."""

from __future__ import annotations

from fastapi import APIRouter

from agent import Answer, run_view
from api.auth import CustomerPrincipal
from api.deps import AppServices
from api.inputs import ConfirmationId, ConversationId
from api.schemas import ConfirmationAnswerOut, ConfirmationOut, error_responses
from api.schemas.base import RequestBody

router = APIRouter(prefix="/v1/conversations", tags=["confirmations"])


class ConfirmationIn(RequestBody):
    decision: Answer
    """`confirm` runs the action (once); `decline` runs nothing."""


@router.post(
    "/{conversation_id}/confirmations/{confirmation_id}",
    responses=error_responses(401, 403, 404, 409, 413, 422, 503),
)
async def answer_confirmation(
    services: AppServices,
    principal: CustomerPrincipal,
    conversation_id: ConversationId,
    confirmation_id: ConfirmationId,
    body: ConfirmationIn,
) -> ConfirmationAnswerOut:
    """Confirm or decline the action a run is waiting on. Confirm runs it once (the policy decides again first,
    and may hold it for a team member); decline runs nothing. Either way the run resumes and the reply comes back
    here, as `run`. Only the conversation's own customer can answer; anyone else gets 404."""
    settled = await services.shielded(
        services.confirmations.answer(conversation_id, principal, confirmation_id, body.decision)
    )
    return ConfirmationAnswerOut(
        confirmation=ConfirmationOut.from_record(settled.approval),
        run=run_view(settled.run) if settled.run else None,
    )
