"""`GET /v1/insights`: the store's figures for the support team (`agent.quality.insights`), the same ones the
desk's insights page draws and `support insights` prints."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Query

from agent import insights
from api.auth import StaffPrincipal
from api.deps import AppServices
from api.schemas import error_responses
from api.schemas.insights import InsightsOut

router = APIRouter(prefix="/v1/insights", tags=["insights"], responses=error_responses(401, 403, 503))


@router.get("", responses=error_responses(422))
async def read_insights(
    services: AppServices,
    _: StaffPrincipal,
    days: Annotated[
        int, Query(ge=1, le=insights.MAX_DAYS, description="UTC days, today included.")
    ] = insights.DEFAULT_DAYS,
    hours: Annotated[
        int, Query(ge=1, le=insights.MAX_HOURS, description="Hours, the current one included.")
    ] = insights.DEFAULT_HOURS,
) -> InsightsOut:
    """Conversations, resolution, hand-offs, helpful answers, flags, fallbacks, cost, latency and the oldest open
    approval, per day and per hour; the tools and flags of the daily range, most frequent first."""
    figures = await insights.compute(services.database, days=days, hours=hours)
    return InsightsOut.model_validate(asdict(figures))
