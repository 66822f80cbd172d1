"""The FastAPI application factory."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from agent.models.base import Model
from api.errors import install_error_handlers
from api.routers import approvals, conversations, health
from api.services import build_services
from api.settings import Settings


def create_app(settings: Settings | None = None, *, model: Model | None = None) -> FastAPI:
    """Build the app. `model` replaces the configured one (tests pass a scripted model)."""
    resolved = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = await build_services(resolved, model=model)
        app.state.services = services
        try:
            yield
        finally:
            await services.close()

    app = FastAPI(
        title="Support agent service",
        version="0.1.0",
        summary="Customer-support chat with least-privilege tools, policy checks and human approvals.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(conversations.router)
    app.include_router(approvals.router)
    return app


def configure_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
