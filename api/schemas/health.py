"""What the probes answer with."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from api.schemas.base import Schema
from api.schemas.conversations import ModelOut


class DatabaseOut(Schema):
    dialect: str
    """`sqlite` or `postgresql`."""
    reachable: bool


class HelpCentreOut(Schema):
    search: str
    """Which search the help centre runs: `keyword` alone without an embedding model, or hybrid."""
    embeddings: str | None
    version: str | None
    articles: int
    passages: int


class ModelProblemOut(Schema):
    reason: str
    """`rejected:<reason>`: the model provider refused requests the service built (a defect of ours, e.g.
    `rejected:thinking_blocks_missing`); `fallback`: a later model of the chain answered; `circuit_open`: the model
    is skipped for a while after failing repeatedly."""
    model: str
    """`provider:model` the problem concerns."""
    detail: str
    count: int
    """How often it happened since it was first seen (within the window)."""
    last_at: datetime


class ModelHealthOut(Schema):
    status: Literal["ok", "degraded"]
    """`degraded` while any problem below was seen in the last ten minutes: customers are answered, but not all
    of them by the configured model."""
    problems: list[ModelProblemOut]


class HealthOut(Schema):
    status: Literal["ok", "degraded", "unavailable"]
    """`unavailable`: the database cannot be reached (503). `degraded`: answers do not all come from the
    configured model (`model_health` says why)."""
    model: ModelOut
    """The model that answers customers."""
    model_health: ModelHealthOut
    database: DatabaseOut
    policy_version: str
    help_centre: HelpCentreOut


class LiveOut(Schema):
    status: Literal["ok"]


class ReadyOut(Schema):
    status: Literal["ready"]
    database: str
    schema_revision: list[str]
    model_health: ModelHealthOut
    """Readiness does not depend on it (the fallback still answers), but an orchestrator's log shows it."""
