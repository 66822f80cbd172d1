"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.routing import APIRoute
from fastapi_offline import FastAPIOffline
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

from agent import Model, Telemetry
from api import desk, widget
from api.body_limit import BodyLimit
from api.errors import install_error_handlers
from api.ops import metrics as metrics_route
from api.ops.logs import AccessLog
from api.ops.metrics import pending_gauge
from api.ops.observability import configure_from_env
from api.page_security import PageSecurity
from api.routers import approvals, confirmations, conversations, events, handoffs, health, insights
from api.services import build_services
from api.settings import Settings

API_TITLE = "Support agent service"
API_VERSION = "0.1.0"
API_DESCRIPTION = """\
A store's customers chat with the assistant here; the assistant acts on their orders only through checked tools,
and the support team decides what the policy holds for a person.

Every route but the probes takes `Authorization: Bearer <JWT>` (customers and staff alike; see the security
scheme). Every error is `{"error": {"code", "message"}}` with the status the route declares. A change to a
customer's orders or account waits for the customer's own confirmation (`run.pending_confirmation`, answered at
`POST /v1/conversations/{id}/confirmations/{confirmation_id}`)."""
API_TAGS = [
    {
        "name": "conversations",
        "description": "The customer's chat: conversations, messages and the runs answering them.",
    },
    {"name": "confirmations", "description": "The customer's Confirm or Decline of a change before it is made."},
    {"name": "approvals", "description": "Actions the policy holds for a support agent or supervisor."},
    {"name": "handoffs", "description": "Conversations handed to a person of the support team."},
    {"name": "insights", "description": "How the assistant is doing: the store's figures per day and per hour."},
    {"name": "health", "description": "Probes and metrics for the operator."},
]


def operation_id(route: APIRoute) -> str:
    """The endpoint function's name (`send_message`, `answer_confirmation`): what a generated client calls the
    method, so the names are chosen for it and checked unique by `tests/api/test_openapi.py`."""
    return route.name


def create_app(
    settings: Settings | None = None,
    *,
    model: Model | None = None,
    simple_model: Model | None = None,
    telemetry: Telemetry | None = None,
) -> FastAPI:
    """Build the app. `model` replaces the configured one (tests pass a scripted model), and `simple_model` the
    simple route's (`agent.routing.routes`); `telemetry` replaces the one configured from the `OTEL_*` variables (tests
    pass in-memory providers)."""
    resolved = settings or Settings()
    observability = configure_from_env(prometheus=resolved.metrics_enabled)
    traced = telemetry is not None or observability.enabled
    telemetry = telemetry or Telemetry()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = await build_services(resolved, model=model, simple_model=simple_model, telemetry=telemetry)
        app.state.services = services
        services.start_housekeeping()
        try:
            async with pending_gauge(services):
                yield
        finally:
            await services.close()
            observability.shutdown()

    # `/docs` (Swagger UI) with its script, style and icon served from the installed fastapi-offline package
    # under /static-offline-docs: FastAPI's own page loads them from a CDN, and is blank wherever the browser
    # cannot reach it. No `/redoc`: ReDoc's script fetches its vendor's logo from the vendor's CDN.
    app = FastAPIOffline(
        redoc_url=None,
        title=API_TITLE,
        version=API_VERSION,
        summary="Customer-support chat with least-privilege tools, policy checks and human approvals.",
        description=API_DESCRIPTION,
        openapi_tags=API_TAGS,
        generate_unique_id_function=operation_id,
        lifespan=lifespan,
        # Swagger UI's validator badge (in layouts that show it) sends the spec's address to a public validator.
        swagger_ui_parameters={"validatorUrl": None},
    )
    install_error_handlers(app)
    app.state.prometheus = observability.prometheus
    # Innermost of ours: a body over the limit is refused before any route reads it, yet the refusal is still
    # logged and carries the CORS headers a browser needs to read it.
    app.add_middleware(BodyLimit, max_bytes=resolved.request_limit)
    app.add_middleware(AccessLog)  # inside the OpenTelemetry middleware, so its lines carry the request's trace
    app.add_middleware(PageSecurity)  # on every answer, the 413 and the access-logged ones included
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
    if traced or resolved.metrics_enabled:  # with metrics alone: the HTTP server's requests, for the 5xx alert
        FastAPIInstrumentor.instrument_app(
            app,
            tracer_provider=telemetry.tracer_provider,
            meter_provider=telemetry.meter_provider,  # the configured one, unless a caller passed its own
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
    app.include_router(insights.router)
    desk.install(app)
    widget.install(app)
    app.include_router(metrics_route.router)
    return app
