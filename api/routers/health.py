"""`GET /healthz`: is the service able to answer, and with which model. `/livez` and `/readyz` are the two
probes an orchestrator asks: is the process alive (restart it if not), and may it take traffic (database
reachable, schema at this build's revision)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import SQLAlchemyError

from api import migrate
from api.errors import ApiError, ErrorBody
from api.services import services_of

router = APIRouter(tags=["health"])


async def help_centre_health(services: Any) -> dict[str, Any]:
    """Which search the help centre runs (`keyword` alone without an embedding model) and its version."""
    knowledge = services.knowledge
    body: dict[str, Any] = {
        "search": knowledge.mode,
        "embeddings": knowledge.embedder.spec.label if knowledge.embedder is not None else None,
        "version": None,
        "articles": 0,
        "passages": 0,
    }
    try:
        async with services.database.session(readonly=True) as session:
            state = await knowledge.state(session)
    except Exception:  # the database check above reports an unreachable database; this stays informative
        return body
    if state is not None:
        body.update(version=state.version, articles=state.articles, passages=state.passages)
    return body


@router.get("/healthz")
async def healthz(request: Request) -> JSONResponse:
    services = request.app.state.services
    reachable = await services.database.ping()
    body: dict[str, Any] = {
        "status": "ok" if reachable else "unavailable",
        "model": {"provider": services.model.provider, "name": services.model.name},
        "database": {"dialect": services.database.dialect, "reachable": reachable},
        "policy_version": services.policy.version,
        "help_centre": await help_centre_health(services),
    }
    return JSONResponse(body, status_code=200 if reachable else 503)


class Live(BaseModel):
    status: Literal["ok"]


class Ready(BaseModel):
    status: Literal["ready"]
    database: str
    schema_revision: list[str]


@router.get("/livez")
async def livez() -> Live:
    """Answers as long as the event loop does; it checks nothing else, so a database outage never gets the
    process restarted for nothing."""
    return Live(status="ok")


@router.get("/readyz", responses={503: {"model": ErrorBody, "description": "not ready: the reason is given"}})
async def readyz(request: Request) -> Ready:
    services = services_of(request)
    if not await services.database.ping():
        raise ApiError(503, "database_unreachable", "the database cannot be reached")
    try:
        current = await migrate.is_current(services.database)
    except SQLAlchemyError:
        raise ApiError(503, "database_unreachable", "the database cannot be reached") from None
    if not current:
        raise ApiError(
            503, "schema_not_current", "the database schema is not at this build's revision; run `support migrate`"
        )
    return Ready(status="ready", database=services.database.dialect, schema_revision=sorted(migrate.head_revisions()))
