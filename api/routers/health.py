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


@router.get("/healthz")
async def healthz(request: Request) -> JSONResponse:
    services = request.app.state.services
    reachable = await services.database.ping()
    body: dict[str, Any] = {
        "status": "ok" if reachable else "unavailable",
        "model": {"provider": services.model.provider, "name": services.model.name},
        "database": {"dialect": services.database.dialect, "reachable": reachable},
        "policy_version": services.policy.version,
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
