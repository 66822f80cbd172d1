"""The desk's working pages: an approval to decide, a hand-off to answer. Every form post carries the session's
CSRF token; a decision that cannot be taken is shown on the page with the API's status (409 someone else
decided first, 403 over my tier, 422 a wrong amendment), never lost behind a generic error."""

from __future__ import annotations

from dataclasses import asdict
from decimal import Decimal, InvalidOperation
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from agent.approval_context import approval_context
from agent.approvals import human_decision
from agent.errors import AmendmentRejected, ApprovalError, ApprovalNotPending, HandoffError, NotHandoffOwner
from agent.tables import Approval
from api.desk.render import render
from api.desk.signin import Desk, DeskForm
from api.desk.wording import describe
from api.services import services_of
from api.views import trace_link
from tools.store.money import to_dollars

router = APIRouter(prefix="/desk", include_in_schema=False)


async def approval_page(
    request: Request,
    approval_id: str,
    session: Any,
    *,
    error: str | None = None,
    field: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    services = services_of(request)
    approval = await services.desk.read(approval_id)
    resumed = await services.runs.get_run(approval.resumed_run_id) if approval.resumed_run_id else None
    return render(
        request,
        "approval.html",
        {
            "session": session,
            "approval": approval,
            "amount": to_dollars(approval.amount_cents),
            "plain": describe(approval.tool, approval.arguments, to_dollars(approval.amount_cents), approval.summary),
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
async def show_approval(request: Request, approval_id: str, session: Desk) -> HTMLResponse:
    return await approval_page(request, approval_id, session)


def amended_arguments(approval: Approval, amount: str) -> dict[str, Any] | None:
    """The arguments with the approver's amount, or None when the amount was left as it was."""
    if not amount.strip() or "amount" not in approval.arguments:
        return None
    try:
        value = Decimal(amount.strip().lstrip("$").replace(",", ""))
    except InvalidOperation:
        raise AmendmentRejected("amount: write the amount as a number, e.g. 120.00", field="amount") from None
    if value == Decimal(str(approval.arguments["amount"])):
        return None
    return {**approval.arguments, "amount": float(value)}


@router.post("/approvals/{approval_id}/approve", response_model=None)
async def approve(request: Request, approval_id: str, session: Desk, form: DeskForm) -> Response:
    services = services_of(request)
    approval = await services.approvals.get(approval_id)
    try:
        amended = amended_arguments(approval, form.get("amount", ""))
        await services.shielded(services.desk.approve(approval_id, session.principal, form.get("note", ""), amended))
    except ApprovalError as error:
        return await decision_refused(request, approval_id, session, error)
    return RedirectResponse(f"/desk/approvals/{approval_id}", status_code=303)


@router.post("/approvals/{approval_id}/reject", response_model=None)
async def reject(request: Request, approval_id: str, session: Desk, form: DeskForm) -> Response:
    services = services_of(request)
    note = form.get("note", "").strip()
    if not note:
        return await approval_page(
            request,
            approval_id,
            session,
            error="A rejection needs a note: the customer is told why.",
            field="note",
            status=422,
        )
    try:
        await services.shielded(services.desk.reject(approval_id, session.principal, note))
    except ApprovalError as error:
        return await decision_refused(request, approval_id, session, error)
    return RedirectResponse(f"/desk/approvals/{approval_id}", status_code=303)


async def decision_refused(request: Request, approval_id: str, session: Any, error: ApprovalError) -> HTMLResponse:
    if isinstance(error, ApprovalNotPending):
        approval = await services_of(request).approvals.get(approval_id)
        return await approval_page(request, approval_id, session, error=decided_elsewhere(approval, error), status=409)
    if isinstance(error, AmendmentRejected):
        return await approval_page(request, approval_id, session, error=str(error), field=error.field, status=422)
    return await approval_page(request, approval_id, session, error=f"Over your tier: {error}", status=403)


# ---- hand-offs ----------------------------------------------------------------------------------------------


async def handoff_page(
    request: Request, handoff_id: str, session: Any, *, error: str | None = None, status: int = 200
) -> HTMLResponse:
    services = services_of(request)
    handoff = await services.handoffs.get(handoff_id)
    return render(
        request,
        "handoff.html",
        {
            "session": session,
            "handoff": handoff,
            "messages": await services.runs.messages(handoff.conversation_id),
            "mine": handoff.status == "claimed" and handoff.claimed_by == session.principal.id,
            "error": error,
        },
        status_code=status,
    )


@router.get("/handoffs/{handoff_id}", response_class=HTMLResponse)
async def show_handoff(request: Request, handoff_id: str, session: Desk) -> HTMLResponse:
    return await handoff_page(request, handoff_id, session)


@router.post("/handoffs/{handoff_id}/{action}", response_model=None)
async def act_on_handoff(request: Request, handoff_id: str, action: str, session: Desk, form: DeskForm) -> Response:
    handoffs = services_of(request).handoffs
    try:
        if action == "claim":
            await handoffs.claim(handoff_id, session.principal)
        elif action == "reply":
            content = form.get("content", "").strip()
            if not content:
                return await handoff_page(request, handoff_id, session, error="The reply is empty.", status=422)
            await handoffs.reply(handoff_id, session.principal, content)
        elif action == "close":
            outcome = form.get("outcome", "")
            if outcome not in ("bot", "resolved"):
                return await handoff_page(request, handoff_id, session, error="Choose how to close it.", status=422)
            await services_of(request).handoff_desk.close(handoff_id, session.principal, outcome)  # type: ignore[arg-type]
        else:
            return await handoff_page(request, handoff_id, session, error=f"Unknown action {action}.", status=404)
    except HandoffError as error:
        status = 403 if isinstance(error, NotHandoffOwner) else 409
        return await handoff_page(request, handoff_id, session, error=str(error), status=status)
    return RedirectResponse(f"/desk/handoffs/{handoff_id}", status_code=303)
