"""The base of every response shape."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from agent import Shape

Schema = Shape
"""A response body (the same base as the records' shapes in `agent.conversations.records`)."""


class RequestBody(BaseModel):
    """A request body: unknown fields are refused (422), not ignored, so a misspelt field is never silently
    dropped; field docstrings are the spec's descriptions, as for responses."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)
