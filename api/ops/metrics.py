"""`GET /metrics`: the service's OpenTelemetry metrics in the Prometheus text format (SUPPORT_METRICS=true),
and the job that keeps the approval gauges (how many wait, and how long the oldest has waited) equal to what the
database holds.

The gauges are read from the database rather than counted in memory, so they are right after a restart and the
same on every replica. They are re-read before every scrape, and every `PENDING_REFRESH_S` for the OTLP export;
the oldest approval's age is worked out when it is reported, from when that approval was opened.

With several workers, each keeps its own counters and histograms, and a scrape sees the worker that answered;
the approval gauges, read from the database, are the same whichever answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import datetime

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from sqlalchemy import func
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import col, select

from agent import Approval, ApprovalStatus, HeldKind
from api.deps import AppServices
from api.errors import ApiError
from api.schemas import ErrorOut
from api.services import Services
from basics.database import Database

PENDING_REFRESH_S = 30.0
log = logging.getLogger(__name__)
router = APIRouter(tags=["health"])


async def count_pending(database: Database) -> int:
    # A read-only session: on SQLite a writing one would queue behind the process's writers every 30 s.
    async with database.session(readonly=True) as session:
        result = await session.exec(
            select(func.count())
            .select_from(Approval)
            .where(col(Approval.status) == ApprovalStatus.PENDING, col(Approval.kind) == HeldKind.APPROVAL)
        )
        return int(result.one())


async def oldest_pending(database: Database) -> datetime | None:
    """When the oldest approval still waiting was opened (index `ix_approvals_status_created`)."""
    async with database.session(readonly=True) as session:
        result = await session.exec(
            select(func.min(Approval.created_at)).where(
                col(Approval.status) == ApprovalStatus.PENDING, col(Approval.kind) == HeldKind.APPROVAL
            )
        )
        opened: datetime | None = result.one()  # MIN keeps the column's type: an aware UTC time
    return opened


async def refresh_pending(services: Services) -> None:
    telemetry = services.loop.telemetry
    try:
        telemetry.pending_approvals = await count_pending(services.database)
        telemetry.oldest_pending_opened = await oldest_pending(services.database)
    except SQLAlchemyError as error:  # the gauges keep their last value; /readyz reports the outage
        log.warning("could not count pending approvals: %s", error)


@contextlib.asynccontextmanager
async def pending_gauge(services: Services) -> AsyncIterator[None]:
    """Keep the gauge fresh for as long as the service runs."""

    async def every_while() -> None:
        while True:
            await asyncio.sleep(PENDING_REFRESH_S)
            await refresh_pending(services)

    await refresh_pending(services)
    task = asyncio.get_running_loop().create_task(every_while())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {
            "content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}},
            "description": "Prometheus text format",
        },
        404: {"model": ErrorOut, "description": "metrics are off (SUPPORT_METRICS)"},
    },
)
async def prometheus_metrics(request: Request, services: AppServices) -> Response:
    registry: CollectorRegistry | None = request.app.state.prometheus
    if registry is None:
        raise ApiError(404, "metrics_off", "metrics are not served here; set SUPPORT_METRICS=true")
    await refresh_pending(services)
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
