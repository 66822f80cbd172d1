"""The approvals console's API: the queue of held actions, one approval in context, approve and reject.

Staff only. Agents decide up to the agent limit of the policy file, supervisors up to theirs. Each decision
returns the approval and the run that answered the customer after it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import Field, field_validator

from agent import ApprovalFilter, ApprovalFilterName, Settled, approval_context, decidable_by, run_view
from api.auth import StaffPrincipal
from api.deps import AppServices
from api.inputs import MAX_AGE_MINUTES, MAX_CURSOR_LENGTH, ApprovalId, Note, QueryId, decode_cursor, encode_cursor
from api.schemas import ApprovalDetailOut, ApprovalOut, SettledApprovalOut, error_responses
from api.schemas.base import RequestBody
from api.services import Services
from basics.clock import utcnow

router = APIRouter(prefix="/v1/approvals", tags=["approvals"], responses=error_responses(401, 403, 503))


class DecisionIn(RequestBody):
    note: Note = ""
    """A note for the record: the customer may be told it."""


class RejectIn(RequestBody):
    note: Note = Field(min_length=1, description="Why: the customer is told, so it is required.")

    @field_validator("note")
    @classmethod
    def _not_blank(cls, note: str) -> str:
        if not note.strip():
            raise ValueError("a rejection needs a note saying why")
        return note


class ApproveIn(DecisionIn):
    arguments: dict[str, Any] | None = None
    """Amended arguments; what runs is exactly these, if the policy accepts them at the approver's tier."""


@router.get(
    "",
    responses={
        200: {
            "description": "Oldest first.",
            "headers": {
                "Next-Cursor": {
                    "description": "Present when more remain: pass it as `cursor` for the next page.",
                    "schema": {"type": "string"},
                }
            },
        },
        **error_responses(422),
    },
)
async def list_approvals(
    services: AppServices,
    response: Response,
    staff: StaffPrincipal,
    status: Annotated[ApprovalFilterName | None, Query(description="Only approvals in this status.")] = None,
    customer_id: Annotated[QueryId | None, Query(description="Only this customer's.")] = None,
    older_than_minutes: Annotated[
        int | None, Query(ge=0, le=MAX_AGE_MINUTES, description="Only those waiting at least this long.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200, description="At most this many.")] = 50,
    cursor: Annotated[
        str | None, Query(max_length=MAX_CURSOR_LENGTH, description="The `Next-Cursor` of the previous page.")
    ] = None,
    decidable: Annotated[
        bool, Query(description="Only those I may decide: within my role's tier and limit for the tool.")
    ] = False,
) -> list[ApprovalOut]:
    """Oldest first. When more remain, the `Next-Cursor` header holds the cursor for the next page.
    `decidable=true` keeps what I may decide: the tier needed and the amount are within my role's limits."""
    await services.desk.expire_due()
    where = ApprovalFilter(
        status=status,
        customer_id=customer_id,
        created_before=utcnow() - timedelta(minutes=older_than_minutes) if older_than_minutes is not None else None,
        within=decidable_by(services.policy, staff.role) if decidable else None,
    )
    page = await services.approvals.find(where, limit=limit + 1, after=decode_cursor(cursor) if cursor else None)
    if len(page) > limit:
        page = page[:limit]
        response.headers["Next-Cursor"] = encode_cursor(page[-1].created_at, page[-1].id)
    return [ApprovalOut.from_record(a, services.settings) for a in page]


@router.get("/{approval_id}", responses=error_responses(404, 422))
async def read_approval(services: AppServices, _: StaffPrincipal, approval_id: ApprovalId) -> ApprovalDetailOut:
    """One approval, with the conversation so far and the policy's reason."""
    approval = await services.desk.read(approval_id)
    messages = await services.runs.messages(approval.conversation_id)
    context = await approval_context(services.database, services.policy, approval)
    return ApprovalDetailOut.from_records(approval, services.settings, messages, context)


def settled_view(settled: Settled, services: Services) -> SettledApprovalOut:
    return SettledApprovalOut(
        approval=ApprovalOut.from_record(settled.approval, services.settings),
        run=run_view(settled.run) if settled.run else None,
    )


@router.post("/{approval_id}/approve", responses=error_responses(403, 404, 409, 413, 422))
async def approve_approval(
    services: AppServices, approver: StaffPrincipal, approval_id: ApprovalId, body: ApproveIn
) -> SettledApprovalOut:
    """Run the held action (exactly these arguments, or the amended ones within my limit), then resume the run
    that told the customer. 409 if it is no longer pending; 403 over my limit."""
    settled = await services.shielded(services.desk.approve(approval_id, approver, body.note, body.arguments))
    return settled_view(settled, services)


@router.post("/{approval_id}/reject", responses=error_responses(404, 409, 413, 422))
async def reject_approval(
    services: AppServices, approver: StaffPrincipal, approval_id: ApprovalId, body: RejectIn
) -> SettledApprovalOut:
    """Refuse the held action; the customer is told why (the note), and nothing runs."""
    settled = await services.shielded(services.desk.reject(approval_id, approver, body.note))
    return settled_view(settled, services)
