"""The base of every response shape."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Schema(BaseModel):
    """A response body. The docstring under each field is its description in `/openapi.json`, so the spec a
    front-end team reads and the code say the same thing in one place."""

    model_config = ConfigDict(use_attribute_docstrings=True)


class RequestBody(BaseModel):
    """A request body: unknown fields are refused (422), not ignored, so a misspelt field is never silently
    dropped; field docstrings are the spec's descriptions, as for responses."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)
