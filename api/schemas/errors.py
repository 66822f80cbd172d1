"""The error body every route answers with, whatever went wrong, and how a route declares its error statuses."""

from __future__ import annotations

from typing import Any

from api.schemas.base import Schema

ERROR_DESCRIPTIONS = {
    401: "No token, or one that is expired, forged or malformed (`WWW-Authenticate: Bearer`).",
    403: "The token is valid but its role may not do this (or, for an approver, the amount is over their limit).",
    404: "Not found, or not yours: another customer's records answer exactly like missing ones.",
    409: "The state changed first: the conversation is busy, or the approval, confirmation or hand-off was "
    "already decided, or the answer already has the customer's verdict.",
    413: "The message, or the request's body, is larger than the service accepts (a body is refused before it is "
    "read, whoever sent it).",
    422: "The request is not valid: the message says which field and why.",
    429: "Too many requests: wait the number of seconds in `Retry-After`.",
    503: "A dependency (the database, the identity provider) cannot be reached; try again shortly.",
}
RETRY_AFTER = {
    "Retry-After": {"description": "Seconds to wait before sending the request again.", "schema": {"type": "integer"}}
}


class ErrorDetail(Schema):
    code: str
    """A stable, machine-readable reason, e.g. `conversation_busy`, `token_expired`, `not_found`."""
    message: str
    """What went wrong and what to do, in words a person can read."""
    field: str | None = None
    """The request field at fault, when one is (an amended approval argument)."""


class ErrorOut(Schema):
    """The body of every error answer."""

    error: ErrorDetail


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of a route: each status it can answer with, in the one error shape. 429 and the
    conversation-busy 409 also say when to try again."""
    declared: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        response: dict[str, Any] = {"model": ErrorOut, "description": ERROR_DESCRIPTIONS[status]}
        if status in (409, 429):
            response["headers"] = RETRY_AFTER
        declared[status] = response
    return declared
