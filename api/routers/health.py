"""`GET /healthz`: is the service able to answer, and with which model."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

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
