"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

from agent.models.base import Model
from agent.telemetry import Telemetry
from api import desk, widget
from api import metrics as metrics_route
from api.errors import install_error_handlers
from api.logs import AccessLog
from api.metrics import pending_gauge
from api.observability import configure_from_env
from api.routers import approvals, confirmations, conversations, events, handoffs, health
from api.services import build_services
from api.settings import Settings


def create_app(
    settings: Settings | None = None, *, model: Model | None = None, telemetry: Telemetry | None = None
) -> FastAPI:
    """Build the app. `model` replaces the configured one (tests pass a scripted model); `telemetry` replaces
    the one configured from the `OTEL_*` variables (tests pass in-memory providers)."""
    resolved = settings or Settings()
    observability = configure_from_env(prometheus=resolved.metrics_enabled)
    traced = telemetry is not None or observability.enabled
    telemetry = telemetry or Telemetry()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = await build_services(resolved, model=model, telemetry=telemetry)
        app.state.services = services
        services.start_housekeeping()
        try:
            async with pending_gauge(services):
                yield
        finally:
            await services.close()
            observability.shutdown()

    app = FastAPI(
        title="Support agent service",
        version="0.1.0",
        summary="Customer-support chat with least-privilege tools, policy checks and human approvals.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.state.prometheus = observability.prometheus
    app.add_middleware(AccessLog)  # inside the OpenTelemetry middleware, so its lines carry the request's trace
    if origins := [o.strip().rstrip("/") for o in resolved.cors_origins.split(",") if o.strip()]:
        # Bearer tokens, not cookies: credentials stay off, so no page can ride on a desk session.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "Last-Event-ID"],
            expose_headers=["Retry-After", "Idempotent-Replayed"],
            max_age=600,
        )
    if traced:
        FastAPIInstrumentor.instrument_app(
            app,
            tracer_provider=telemetry.tracer_provider,
            excluded_urls="healthz,livez,readyz,metrics",
            exclude_spans=["receive", "send"],  # one server span per request is what a reviewer wants
        )
    if observability.enabled:
        HTTPXClientInstrumentor().instrument()
    app.include_router(health.router)
    app.include_router(conversations.router)
    app.include_router(events.router)
    app.include_router(approvals.router)
    app.include_router(confirmations.router)
    app.include_router(handoffs.router)
    desk.install(app)
    widget.install(app)
    app.include_router(metrics_route.router)
    return app
