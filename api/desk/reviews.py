"""The review queue (`/desk/reviews`): flagged runs for a reviewer, and "Add to the golden cases" on the run review.

The queue's filters come from a GET form, so a filtered queue is a link a reviewer can share. Every filter value
is checked before it reaches a query: an unknown flag kind, a date that is not one, a range that ends before it
starts, an over-long model name or a page position this page never gave is shown on the page as what is wrong
(422), never a 500. The export posts the correction with the session's CSRF token (`DeskForm`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from agent import Conversation, FlagKind, ReviewFilter, Run, flags_of, review_queue
from api.deps import AppServices
from api.desk.errors import DeskPageError, desk_id
from api.desk.golden_case import CorrectionError, golden_case, read_correction, write_case
from api.desk.pages import review_page
from api.desk.render import render
from api.desk.session import DeskSession
from api.desk.signin import Desk, DeskForm
from api.desk.wording import flag_words
from api.errors import ApiError
from api.inputs import event_id
from api.services import Services
from basics.clock import utcnow
from tools.errors import NotFound
from tools.store.sanitize import refuse_unstorable

router = APIRouter(prefix="/desk", include_in_schema=False)

MAX_FILTER_TEXT = 100
"""Model names and prompt versions are shorter than this in every row (`runs.model_name` holds 100)."""
EARLIEST = date(2000, 1, 1)


class FilterError(ValueError):
    """A filter value the queue cannot use; the message names the field."""


@dataclass(frozen=True, slots=True)
class QueueQuery:
    """The queue's query string, as typed (for the form) and as checked (for the query)."""

    shown: dict[str, str]
    wanted: ReviewFilter
    after: int | None


def _day(text: str, field: str) -> date | None:
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise FilterError(f"{field}: {text[:40]!r} is not a date (YYYY-MM-DD)") from None
    if not EARLIEST <= day <= utcnow().date() + timedelta(days=1):
        raise FilterError(f"{field}: choose a day between {EARLIEST} and today")
    return day


def _exact(text: str, field: str) -> str | None:
    if not text:
        return None
    if len(text) > MAX_FILTER_TEXT:
        raise FilterError(f"{field}: at most {MAX_FILTER_TEXT} characters")
    try:
        return refuse_unstorable(text)
    except ValueError as problem:
        raise FilterError(f"{field}: {problem}") from None


def read_query(params: dict[str, str]) -> QueueQuery:
    """The filter a query string asks for; raises `FilterError` with the field and what is wrong."""
    shown = {name: params.get(name, "").strip() for name in ("kind", "from", "to", "model", "prompt")}
    kind = shown["kind"] or None
    if kind is not None and kind not in FlagKind.__members__.values():
        raise FilterError(f"Flag: {kind[:40]!r} is not a kind of flag")
    first, last = _day(shown["from"], "From"), _day(shown["to"], "To")
    if first and last and last < first:
        raise FilterError("To: the range ends before it starts")
    after = None
    if raw := params.get("after", "").strip():
        try:
            after = event_id(raw, "after")
        except ApiError:
            raise FilterError("This page position is not one the queue gave; start again from the first page") from None
    wanted = ReviewFilter(
        kind=kind,
        flagged_from=datetime.combine(first, time(), UTC) if first else None,
        flagged_before=datetime.combine(last + timedelta(days=1), time(), UTC) if last else None,
        model=_exact(shown["model"], "Model"),
        prompt_version=_exact(shown["prompt"], "Prompt version"),
    )
    return QueueQuery(shown=shown, wanted=wanted, after=after)


def queue_link(shown: dict[str, str], after: int | None = None) -> str:
    """The queue with the same filter, from its first page or from after the flag with id `after`."""
    query = {k: v for k, v in shown.items() if v}
    if after is not None:
        query["after"] = str(after)
    return "/desk/reviews" + (f"?{urlencode(query)}" if query else "")


@router.get("/reviews", response_class=HTMLResponse)
async def reviews_page(request: Request, services: AppServices, session: Desk) -> HTMLResponse:
    """Flagged runs, newest first, a page at a time, filtered by flag kind, the day flagged, model and prompt."""
    params = dict(request.query_params.items())
    context: dict[str, Any] = {
        "session": session,
        "kinds": [(kind.value, flag_words(kind.value)) for kind in FlagKind],
        "flag_words": flag_words,
        "rows": [],
        "next_link": None,
        "shown": {name: params.get(name, "")[:MAX_FILTER_TEXT] for name in ("kind", "from", "to", "model", "prompt")},
        "paged": False,
    }
    try:
        query = read_query(params)
    except FilterError as problem:
        return render(request, "reviews.html", {**context, "error": str(problem)}, status_code=422)
    page = await review_queue(services.database, query.wanted, after=query.after)
    context.update(
        shown=query.shown,
        rows=page.rows,
        paged=query.after is not None,
        first_link=queue_link(query.shown),
        next_link=queue_link(query.shown, page.next_after) if page.next_after is not None else None,
    )
    return render(request, "reviews.html", context)


async def reviewed_run(
    services: Services, conversation_id: str, run_id: str, session: DeskSession
) -> tuple[Conversation, Run]:
    """The conversation and its run that the form names; anything else is the desk's 404 page."""
    conversation = await services.runs.conversation_for(desk_id(conversation_id, "conversation"), session.principal)
    try:
        run = await services.runs.get_run(desk_id(run_id, "run"))
    except NotFound:
        run = None
    if run is None or run.conversation_id != conversation.id:
        raise DeskPageError(404, "That run is not part of this conversation.")
    return conversation, run


@router.post("/conversations/{conversation_id}/golden-case", response_model=None)
async def add_golden_case(
    request: Request, services: AppServices, conversation_id: str, session: Desk, form: DeskForm
) -> Response:
    """The run, with the reviewer's correction, as a golden case: saved in `SUPPORT_GOLDEN_CASES_DIR` (then back
    to the review, which says where), or downloaded as a YAML file when no folder is configured."""
    conversation, run = await reviewed_run(services, conversation_id, form.get("run_id", ""), session)
    posted = await request.form()
    try:
        correction = read_correction(
            [v for v in posted.getlist("must_call") if isinstance(v, str)],
            [v for v in posted.getlist("must_not_call") if isinstance(v, str)],
            form.get("must_say", ""),
            form.get("must_not_say", ""),
            form.get("note", ""),
            known_tools=[spec.name for spec in services.engine.registry],
        )
    except CorrectionError as problem:
        return await review_page(
            request, services, conversation.id, session, export_error=(run.id, str(problem)), status_code=422
        )
    flags = (await flags_of(services.database, [run.id])).get(run.id, [])
    name, text = await golden_case(
        services.database,
        conversation,
        run,
        correction,
        flags=[flag_words(f.kind) for f in flags],
        now=utcnow(),
    )
    folder = services.settings.golden_cases_dir
    if folder is None:
        return Response(
            text,
            media_type="application/yaml",
            headers={"Content-Disposition": f'attachment; filename="{name}.yaml"'},
        )
    try:
        write_case(folder, name, text)
    except OSError as problem:
        return await review_page(
            request,
            services,
            conversation.id,
            session,
            export_error=(run.id, f"The case could not be saved in the golden cases folder: {problem.strerror}."),
            status_code=503,
        )
    return RedirectResponse(f"/desk/conversations/{conversation.id}?saved={name}#run-{run.id}", status_code=303)
