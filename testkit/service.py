"""The service in-process, for tests: a real app (lifespan included) behind an httpx client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx

from agent.models.base import Model
from agent.telemetry.recorder import Telemetry
from api.app import create_app
from api.auth import mint_token
from api.services import Services
from api.settings import Settings

TEST_SECRET = "test-secret-0123456789abcdef0123456789abcdef"


def service_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "DATABASE_URL": database_url,
        "SUPPORT_JWT_SECRET": TEST_SECRET,
        "SUPPORT_MODEL": "offline",
    }
    values.update(overrides)
    return Settings.model_validate(values)


def anthropic_settings(base_url: str, *, max_retries: int = 0, timeout_s: float = 5) -> dict[str, Any]:
    """Settings for a service whose primary model is Claude, reached at `base_url` (a fake Messages API)."""
    return {
        "SUPPORT_MODEL": "anthropic:claude-sonnet-4-6",
        "ANTHROPIC_API_KEY": "test-key",
        "ANTHROPIC_BASE_URL": base_url,
        "SUPPORT_MODEL_MAX_RETRIES": max_retries,
        "SUPPORT_MODEL_TIMEOUT_S": timeout_s,
    }


def bearer(subject: str, role: str = "customer", ttl: timedelta = timedelta(hours=3)) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(TEST_SECRET, subject, role, ttl)}"}


class ServiceClient:
    """An httpx client on the app, plus the app's services for looking behind the API."""

    def __init__(self, http: httpx.AsyncClient, services: Services) -> None:
        self.http = http
        self.services = services

    async def new_conversation(self, customer: str) -> str:
        created = await self.http.post("/v1/conversations", headers=bearer(customer))
        assert created.status_code == 201, created.text
        return str(created.json()["id"])

    async def say(self, customer: str, conversation: str, content: str, **headers: str) -> httpx.Response:
        return await self.http.post(
            f"/v1/conversations/{conversation}/messages",
            json={"content": content},
            headers={**bearer(customer), **headers},
        )


@asynccontextmanager
async def running_service(
    database_url: str,
    model: Model | None = None,
    *,
    simple_model: Model | None = None,
    telemetry: Telemetry | None = None,
    **settings: Any,
) -> AsyncIterator[ServiceClient]:
    """The service with `model` for the default route (and `simple_model` for the simple one,
    `agent.routing.routes`)."""
    app = create_app(
        service_settings(database_url, **settings), model=model, simple_model=simple_model, telemetry=telemetry
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://service.test") as http:
            yield ServiceClient(http, app.state.services)
