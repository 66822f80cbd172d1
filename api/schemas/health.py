"""What the probes answer with."""

from __future__ import annotations

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


class HealthOut(Schema):
    status: Literal["ok", "unavailable"]
    model: ModelOut
    """The model that answers customers."""
    database: DatabaseOut
    policy_version: str
    help_centre: HelpCentreOut


class LiveOut(Schema):
    status: Literal["ok"]


class ReadyOut(Schema):
    status: Literal["ready"]
    database: str
    schema_revision: list[str]
