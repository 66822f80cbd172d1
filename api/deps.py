"""The service's parts as FastAPI dependencies: a route names what it uses in its signature (`services:
AppServices`) instead of reaching into the app's state, so what it touches shows where it is declared.

The dependency is `async`: a plain `def` one would cost a hop to a worker thread on every request.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from api.services import Services


async def app_services(request: Request) -> Services:
    """The process's services, as the app's lifespan built them."""
    services: Services = request.app.state.services
    return services


AppServices = Annotated[Services, Depends(app_services)]
