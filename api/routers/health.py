"""`GET /healthz`: is the service able to answer, and with which model."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

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
