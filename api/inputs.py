"""The bounded input types every route uses: ids in paths, free text and ids in query strings and bodies, token
subjects, cursors.

Why here, before any query: PostgreSQL refuses a NUL character anywhere in a statement's text parameters and no
database stores a lone UTF-16 surrogate, so without these checks an odd byte in a URL becomes a 500 instead of
the answer the client deserves. And a bound on every value keeps one request from asking the database for
absurd work (a date ten thousand years back, a megabyte id).

What a client gets: a path id of the wrong shape names nothing, so it is 404 like any unknown id (no hint that
the shape was the problem); a bad query parameter or body field is 422 with the field named.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import UTC, datetime
from typing import Annotated, Any, TypeGuard

from fastapi import Depends, Path
from pydantic import AfterValidator, StringConstraints

from api.errors import ApiError
from tools.store.sanitize import refuse_unstorable

MAX_ID_LENGTH = 64
"""Longer than any id the service makes (`conv_` + 32 hex digits), short enough to never be work."""
_ID_SHAPE = re.compile(rf"^[A-Za-z0-9_-]{{1,{MAX_ID_LENGTH}}}$")

MAX_SUBJECT_LENGTH = 80
"""A token's `sub` is stored as a customer id (80 characters in every table that keeps one)."""

MAX_TEXT_LENGTH = 2000
MAX_CURSOR_LENGTH = 200
MAX_AGE_MINUTES = 60 * 24 * 366 * 10
"""Ten years: `older_than_minutes` beyond this is a typo, and far beyond it overflows date arithmetic."""


def known_id_shape(value: str, what: str) -> str:
    """The id, or 404 for one that cannot name anything (it would otherwise reach the database as is)."""
    if not _ID_SHAPE.fullmatch(value):
        raise ApiError(404, "not_found", f"no {what} with that id")
    return value


def path_id(name: str, what: str) -> Any:
    """A dependency reading the path parameter `name` as an id of a `what`, for `Annotated[str, path_id(...)]`.
    The shape is documented in the OpenAPI schema but checked here, so a miss is 404 rather than 422.
    Declare it after the principal in a route, so a request without a token is 401 before anything else."""
    pattern = {"pattern": _ID_SHAPE.pattern, "maxLength": MAX_ID_LENGTH}

    # A default rather than `Annotated`: the annotation is a string here, and could not see `name`. `async`, as
    # every dependency here is: a plain `def` would cost a worker-thread hop on every request.
    async def checked(value: str = Path(alias=name, json_schema_extra=pattern)) -> str:
        return known_id_shape(value, what)

    return Depends(checked)


ConversationId = Annotated[str, path_id("conversation_id", "conversation")]
ApprovalId = Annotated[str, path_id("approval_id", "approval")]

StorableText = Annotated[str, AfterValidator(refuse_unstorable)]
"""Free text from a client: no NUL, no lone surrogate; refused with 422 rather than repaired."""
Note = Annotated[str, StringConstraints(max_length=MAX_TEXT_LENGTH), AfterValidator(refuse_unstorable)]
QueryId = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_SUBJECT_LENGTH), AfterValidator(refuse_unstorable)
]
"""An id given as a query parameter (a customer id, say): bounded like the column it is compared with."""


def valid_subject(subject: object) -> TypeGuard[str]:
    """Whether a token's `sub` can be a principal: a printable string the database can store and compare."""
    return (
        isinstance(subject, str)
        and 0 < len(subject) <= MAX_SUBJECT_LENGTH
        and subject.isprintable()
        and subject == subject.strip()
    )


def encode_cursor(created_at: datetime, row_id: str) -> str:
    return base64.urlsafe_b64encode(f"{created_at.isoformat()}|{row_id}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The position a `Next-Cursor` header named. Anything this API did not write is 422: a timestamp without a
    time zone would be compared with aware ones (an error on PostgreSQL), and the id goes into the query too."""
    try:
        created, separator, row_id = base64.urlsafe_b64decode(cursor.encode("ascii")).decode().partition("|")
        position = datetime.fromisoformat(created)
        if separator and position.tzinfo is not None and _ID_SHAPE.fullmatch(row_id):
            return position.astimezone(UTC), row_id
    except (ValueError, binascii.Error, OverflowError):
        pass
    raise ApiError(422, "invalid_cursor", "the cursor is not one this API returned")


ConfirmationId = Annotated[str, path_id("confirmation_id", "confirmation")]
