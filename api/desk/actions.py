"""The desk's working pages: an approval to decide, a hand-off to answer. Every form post carries the session's
CSRF token; a decision that cannot be taken is shown on the page with the API's status (409 someone else
decided first, 403 over my tier, 422 a wrong amendment), never lost behind a generic error. What a form carries
(an amount, a note, a reply) is checked by the API's own checks (`api.inputs`), so the desk takes nothing the API
would refuse."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from agent import (
    AmendmentRejected,
    Approval,
    ApprovalError,
    ApprovalNotPending,
    HandoffError,
    HandoffStatus,
    NotHandoffOwner,
    approval_context,
    human_decision,
)
from api.deps import AppServices
from api.desk.errors import desk_id
from api.desk.render import render
from api.desk.signin import Desk, DeskForm
from api.desk.wording import describe, quoted
from api.errors import ApiError
from api.inputs import form_amount, message_text, note_text
from api.schemas.staff import trace_link
from api.services import Services
from tools.store.money import parse_amount, to_dollars

router = APIRouter(prefix="/desk", include_in_schema=False)


async def approval_page(
    request: Request,
    services: Services,
    approval_id: str,
    session: Any,
    *,
    error: str | None = None,
    field: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    approval = await services.desk.read(approval_id)
    resumed = await services.runs.get_run(approval.resumed_run_id) if approval.resumed_run_id else None
    words = quoted(services.engine.registry, approval.tool, approval.arguments)
    said = {name for name, _ in words}
    return render(
        request,
        "approval.html",
        {
            "session": session,
            "approval": approval,
            "amount": to_dollars(approval.amount_cents),
            "plain": describe(approval.tool, approval.arguments, to_dollars(approval.amount_cents), approval.summary),
            "facts": {name: value for name, value in approval.arguments.items() if name not in said},
            "quoted": words,
            "context": asdict(await approval_context(services.database, services.policy, approval)),
            "messages": await services.runs.messages(approval.conversation_id),
            "resumed": resumed,
            "decision": human_decision(approval),
            "amended": [
                (name, approval.arguments.get(name), value)
                for name, value in (approval.executed_arguments or {}).items()
                if approval.arguments.get(name) != value
            ],
            "trace_url": trace_link(approval.trace_context.get("trace_id"), services.settings),
            "error": error,
            "field": field,
        },
        status_code=status,
    )


def decided_elsewhere(approval: Approval, error: ApprovalNotPending) -> str:
    if approval.decided_by:
        decided = human_decision(approval)
        return f"Already decided: {approval.decided_by} {decided} this at {approval.decided_at:%H:%M:%S} UTC."
    return str(error)


@router.get("/approvals/{approval_id}", response_class=HTMLResponse)
async def show_approval(request: Request, services: AppServices, approval_id: str, session: Desk) -> HTMLResponse:
    return await approval_page(request, services, desk_id(approval_id, "approval"), session)


def amended_arguments(approval: Approval, amount: str) -> dict[str, Any] | None:
    """The arguments with the approver's amount, or None when the amount was left as it was."""
    if not amount.strip() or "amount" not in approval.arguments:
        return None
    try:
        value = form_amount(amount)
    except ValueError as problem:
        raise AmendmentRejected(f"amount: {problem}", field="amount") from None
    if value == parse_amount(approval.arguments["amount"]):
        return None
    return {**approval.arguments, "amount": float(value)}


def checked_note(form: dict[str, str]) -> str:
    try:
        return note_text(form.get("note", "").strip())
    except ValueError as problem:
        raise AmendmentRejected(f"note: {problem}", field="note") from None


@router.post("/approvals/{approval_id}/approve", response_model=None)
async def approve(request: Request, services: AppServices, approval_id: str, session: Desk, form: DeskForm) -> Response:
    approval = await services.approvals.get(desk_id(approval_id, "approval"))
    try:
        amended = amended_arguments(approval, form.get("amount", ""))
        note = checked_note(form)
        await services.shielded(services.desk.approve(approval.id, session.principal, note, amended))
    except ApprovalError as error:
        return await decision_refused(request, services, approval_id, session, error)
    return RedirectResponse(f"/desk/approvals/{approval_id}", status_code=303)


@router.post("/approvals/{approval_id}/reject", response_model=None)
async def reject(request: Request, services: AppServices, approval_id: str, session: Desk, form: DeskForm) -> Response:
    approval_id = desk_id(approval_id, "approval")
    try:
        note = checked_note(form)
    except AmendmentRejected as error:
        return await decision_refused(request, services, approval_id, session, error)
    if not note:
        return await approval_page(
            request,
            services,
            approval_id,
            session,
            error="A rejection needs a note: the customer is told why.",
            field="note",
            status=422,
        )
    try:
        await services.shielded(services.desk.reject(approval_id, session.principal, note))
    except ApprovalError as error:
        return await decision_refused(request, services, approval_id, session, error)
    return RedirectResponse(f"/desk/approvals/{approval_id}", status_code=303)


async def decision_refused(
    request: Request, services: Services, approval_id: str, session: Any, error: ApprovalError
) -> HTMLResponse:
    if isinstance(error, ApprovalNotPending):
        approval = await services.approvals.get(approval_id)
        return await approval_page(
            request, services, approval_id, session, error=decided_elsewhere(approval, error), status=409
        )
    if isinstance(error, AmendmentRejected):
        return await approval_page(
            request, services, approval_id, session, error=str(error), field=error.field, status=422
        )
    return await approval_page(request, services, approval_id, session, error=f"Over your tier: {error}", status=403)


# ---- hand-offs ----------------------------------------------------------------------------------------------


async def handoff_page(
    request: Request, services: Services, handoff_id: str, session: Any, *, error: str | None = None, status: int = 200
) -> HTMLResponse:
    handoff = await services.handoffs.get(handoff_id)
    return render(
        request,
        "handoff.html",
        {
            "session": session,
            "handoff": handoff,
            "messages": await services.runs.messages(handoff.conversation_id),
            "mine": handoff.status == HandoffStatus.CLAIMED and handoff.claimed_by == session.principal.id,
            "error": error,
        },
        status_code=status,
    )


@router.get("/handoffs/{handoff_id}", response_class=HTMLResponse)
async def show_handoff(request: Request, services: AppServices, handoff_id: str, session: Desk) -> HTMLResponse:
    return await handoff_page(request, services, desk_id(handoff_id, "hand-off"), session)


@router.post("/handoffs/{handoff_id}/{action}", response_model=None)
async def act_on_handoff(
    request: Request, services: AppServices, handoff_id: str, action: str, session: Desk, form: DeskForm
) -> Response:
    handoffs = services.handoffs
    handoff_id = desk_id(handoff_id, "hand-off")
    try:
        if action == "claim":
            await handoffs.claim(handoff_id, session.principal)
        elif action == "reply":
            try:
                content = message_text(form.get("content", "").strip(), services.settings.max_message_bytes)
            except ApiError as error:
                return await handoff_page(
                    request, services, handoff_id, session, error=error.message, status=error.status
                )
            await handoffs.reply(handoff_id, session.principal, content)
        elif action == "close":
            outcome = form.get("outcome", "")
            if outcome not in ("bot", "resolved"):
                return await handoff_page(
                    request, services, handoff_id, session, error="Choose how to close it.", status=422
                )
            await services.handoff_desk.close(handoff_id, session.principal, outcome)  # type: ignore[arg-type]
        else:
            return await handoff_page(
                request, services, handoff_id, session, error=f"Unknown action {action}.", status=404
            )
    except HandoffError as error:
        status = 403 if isinstance(error, NotHandoffOwner) else 409
        return await handoff_page(request, services, handoff_id, session, error=str(error), status=status)
    return RedirectResponse(f"/desk/handoffs/{handoff_id}", status_code=303)
