"""`GET /healthz`: is the service able to answer, and with which model. `/livez` and `/readyz` are the two
probes an orchestrator asks: is the process alive (restart it if not), and may it take traffic (database
reachable, schema at this build's revision).

Both `/healthz` and `/readyz` say whether the answers come from the configured model (`model_health`): a provider
refusing our requests, or a fallback answering, reads `degraded` with the reason (`agent.models.health`). Readiness
stays 200 then, since customers are still answered."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from api import migrate
from api.deps import AppServices
from api.errors import ApiError
from api.schemas import (
    HealthOut,
    HelpCentreOut,
    LiveOut,
    ModelHealthOut,
    ModelOut,
    ModelProblemOut,
    ReadyOut,
    error_responses,
)
from api.schemas.health import DatabaseOut
from api.services import Services

router = APIRouter(tags=["health"])


def model_health(services: Services) -> ModelHealthOut:
    health = services.loop.health
    problems = [
        ModelProblemOut(reason=p.reason, model=p.model, detail=p.detail, count=p.count, last_at=p.last_at)
        for p in health.problems()
    ]
    return ModelHealthOut(status="degraded" if problems else "ok", problems=problems)


async def help_centre_health(services: Services) -> HelpCentreOut:
    """Which search the help centre runs (`keyword` alone without an embedding model) and its version."""
    knowledge = services.knowledge
    body = HelpCentreOut(
        search=knowledge.mode,
        embeddings=knowledge.embedder.spec.label if knowledge.embedder is not None else None,
        version=None,
        articles=0,
        passages=0,
    )
    try:
        async with services.database.session(readonly=True) as session:
            state = await knowledge.state(session)
    except Exception:  # the database check above reports an unreachable database; this stays informative
        return body
    if state is not None:
        body = body.model_copy(
            update={"version": state.version, "articles": state.articles, "passages": state.passages}
        )
    return body


@router.get(
    "/healthz",
    response_model=HealthOut,
    responses={503: {"model": HealthOut, "description": "The database cannot be reached; the body says so."}},
)
async def health(services: AppServices) -> JSONResponse:
    """The model in use, the database, the policy version and the help centre's search."""
    reachable = await services.database.ping()
    answers = model_health(services)
    body = HealthOut(
        status=("ok" if answers.status == "ok" else "degraded") if reachable else "unavailable",
        model=ModelOut(provider=services.model.provider, name=services.model.name),
        model_health=answers,
        database=DatabaseOut(dialect=services.database.dialect, reachable=reachable),
        policy_version=services.policy.version,
        help_centre=await help_centre_health(services),
    )
    return JSONResponse(body.model_dump(mode="json"), status_code=200 if reachable else 503)


@router.get("/livez")
async def liveness() -> LiveOut:
    """Answers as long as the event loop does; it checks nothing else, so a database outage never gets the
    process restarted for nothing."""
    return LiveOut(status="ok")


@router.get("/readyz", responses=error_responses(503))
async def readiness(services: AppServices) -> ReadyOut:
    """Ready for traffic: the database is reachable and its schema is at this build's revision."""
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
    return ReadyOut(
        status="ready",
        database=services.database.dialect,
        schema_revision=sorted(migrate.head_revisions()),
        model_health=model_health(services),
    )
