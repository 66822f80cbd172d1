"""The desk's read-only pages: the live queue and the run review of a conversation (with its flags, and the form
that adds a run to the golden cases, which `api.desk.reviews` receives)."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlmodel import col, select

from agent import ANY_OPEN, ApprovalFilter, ApprovalStatus, HandoffFilter, Step, flags_of
from api.deps import AppServices
from api.desk.errors import desk_id
from api.desk.marks import marked
from api.desk.render import render
from api.desk.signin import Desk
from api.desk.wording import flag_words
from api.schemas.staff import trace_link
from api.services import Services
from policies.audit import PolicyDecisionRecord
from tools.store.money import to_dollars

router = APIRouter(prefix="/desk", include_in_schema=False)
UNGROUNDED = "ungrounded_"
"""The prefix of the flag kinds whose value is a part of the reply (`FlagKind.ungrounded`), marked in it."""
QUEUE_POLL_S = 2
"""How often an open queue page asks for the queue again (htmx polling: new items appear without a reload)."""


async def queue_context(services: Services, session: Any) -> dict[str, Any]:
    approvals = await services.approvals.find(ApprovalFilter(status=ApprovalStatus.PENDING), limit=200, after=None)
    handoffs = await services.handoffs.find(HandoffFilter(status=ANY_OPEN), limit=200)
    return {
        "session": session,
        "approvals": approvals,
        "handoffs": handoffs,
        "to_dollars": to_dollars,
        "poll_s": QUEUE_POLL_S,
    }


@router.get("", response_class=HTMLResponse)
async def queue_page(request: Request, services: AppServices, session: Desk) -> HTMLResponse:
    """Pending approvals and open hand-offs, oldest first; the list refreshes itself while the page is open."""
    return render(request, "queue.html", await queue_context(services, session))


@router.get("/queue", response_class=HTMLResponse)
async def queue_fragment(request: Request, services: AppServices, session: Desk) -> HTMLResponse:
    return render(request, "_queue.html", await queue_context(services, session))


SAVED_CASE = re.compile(r"reviewed_[0-9]{8}_[0-9]{6}_[0-9a-f]{6}")
"""The name of a case the export just saved (`api.desk.golden_case.case_name`), as the redirect names it."""


@router.get("/conversations/{conversation_id}", response_class=HTMLResponse)
async def show_review(request: Request, services: AppServices, conversation_id: str, session: Desk) -> HTMLResponse:
    saved = request.query_params.get("saved", "")
    return await review_page(
        request,
        services,
        desk_id(conversation_id, "conversation"),
        session,
        saved=saved if SAVED_CASE.fullmatch(saved) else None,
    )


async def review_page(
    request: Request,
    services: Services,
    conversation_id: str,
    session: Any,
    *,
    saved: str | None = None,
    export_error: tuple[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """Every run of a conversation: its model calls (model, tokens, cost), its tool calls with the policy's
    outcome, rule and reason, a link to its trace when `JAEGER_UI_URL` is set, its flags in words with the
    ungrounded parts of its reply marked, and the form that adds it to the golden cases."""
    conversation = await services.runs.conversation_for(conversation_id, session.principal)
    runs = await services.runs.runs(conversation.id)
    run_ids = [r.id for r in runs]
    async with services.database.session(readonly=True) as db:
        steps = (
            await db.exec(
                select(Step).where(col(Step.run_id).in_(run_ids)).order_by(col(Step.run_id), col(Step.position))
            )
        ).all()
        decisions = (
            await db.exec(select(PolicyDecisionRecord).where(col(PolicyDecisionRecord.run_id).in_(run_ids)))
        ).all()
    flags = await flags_of(services.database, run_ids)
    reasons = {(d.run_id, d.call_id): d for d in decisions}
    by_run: dict[str, list[Step]] = {}
    for step in steps:
        by_run.setdefault(step.run_id, []).append(step)
    return render(
        request,
        "review.html",
        {
            "session": session,
            "conversation": conversation,
            "messages": await services.runs.messages(conversation.id),
            "runs": [
                {
                    "run": run,
                    "steps": by_run.get(run.id, []),
                    "trace_url": trace_link(run.trace_id, services.settings),
                    "flags": flags.get(run.id, []),
                    "reply": marked(
                        run.reply or "",
                        [f.value for f in flags.get(run.id, []) if f.kind.startswith(UNGROUNDED)],
                    ),
                }
                for run in runs
            ],
            "reasons": reasons,
            "to_dollars": to_dollars,
            "flag_words": flag_words,
            "tools": sorted(spec.name for spec in services.engine.registry),
            "saved": saved,
            "saves_to_folder": services.settings.golden_cases_dir is not None,
            "export_error": export_error,
        },
        status_code=status_code,
    )
