"""The bounded input types every route uses: ids in paths, free text and ids in query strings and bodies, token
subjects, cursors.

Why here, before any query: PostgreSQL refuses a NUL character anywhere in a statement's text parameters and no
database stores a lone UTF-16 surrogate, so without these checks an odd byte in a URL becomes a 500 instead of
the answer the client deserves. And a bound on every value keeps one request from asking the database for
absurd work (a date ten thousand years back, a megabyte id).

What a client gets: a path id of the wrong shape names nothing, so it is 404 like any unknown id (no hint that
the shape was the problem); a bad query parameter or body field is 422 with the field named.

The checks are functions first (`note_text`, `message_text`, `form_amount`, `event_id`) and pydantic types
second, so the desk's forms, which post form fields rather than JSON, run exactly the checks the API runs.
Amounts are the store's one parser's (`tools.store.money.parse_amount`, also behind every tool's `Amount`):
plain ASCII decimals, nothing Python's `Decimal` would also take (`sNaN`, `１２０`, `1_2_0`).
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, TypeGuard

from fastapi import Depends, Path
from pydantic import AfterValidator, StringConstraints, WithJsonSchema

from api.errors import ApiError
from tools.store.money import parse_amount
from tools.store.sanitize import refuse_unstorable, visible

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


def note_text(value: str) -> str:
    """A note or reason a member of staff writes (stored with a decision; the customer may be told it): at most
    `MAX_TEXT_LENGTH` characters, nothing a database cannot store. Raises `ValueError` with what is wrong."""
    if len(value) > MAX_TEXT_LENGTH:
        raise ValueError(f"a note can be at most {MAX_TEXT_LENGTH} characters; this one has {len(value)}")
    return refuse_unstorable(value)


MAX_COMMENT_LENGTH = 1000
"""A customer's comment on an answer: a few sentences (the column holds this many characters)."""


def comment_text(value: str) -> str:
    """A customer's comment on an answer ("Was this helpful?"): at most `MAX_COMMENT_LENGTH` characters once the
    invisible ones (zero-width, bidi controls) are taken out, nothing a database cannot store. Raises `ValueError`
    with what is wrong."""
    shown = visible(refuse_unstorable(value))
    if len(shown) > MAX_COMMENT_LENGTH:
        raise ValueError(f"a comment can be at most {MAX_COMMENT_LENGTH} characters; this one has {len(shown)}")
    return shown


def message_text(value: str, limit_bytes: int) -> str:
    """A message to the other side of a conversation (a customer's, or a team member's reply): storable, not
    empty, at most `limit_bytes` of UTF-8 (413 past it, as the API has always answered)."""
    try:
        refuse_unstorable(value)
    except ValueError as problem:
        raise ApiError(422, "invalid_request", f"content: {problem}") from None
    size = len(value.encode("utf-8", "surrogatepass"))
    if size > limit_bytes:
        raise ApiError(413, "message_too_large", f"a message can be at most {limit_bytes} bytes; this one is {size}")
    if not value.strip():
        raise ApiError(422, "empty_message", "the message is empty")
    return value


_THOUSANDS = re.compile(r"[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]+)?")


def form_amount(text: str) -> Decimal:
    """An amount typed into a form (`120`, `120.00`, `$1,250.00`): a leading `$` and thousands commas are how people
    write dollars, and are read as such; the rest is the store's parser's, which refuses anything but plain ASCII
    decimals. Raises `ValueError` (`tools.store.money.AmountError`) with what is wrong."""
    plain = text.strip().removeprefix("$")
    if _THOUSANDS.fullmatch(plain):
        plain = plain.replace(",", "")
    return parse_amount(plain)


EVENT_ID_MAX = 2**31 - 1
"""The largest id `conversation_events.id` (a 32-bit integer column) can hold."""


def event_id(text: str, name: str) -> int:
    """A feed position a client sends back (`Last-Event-ID`, `?after=`): ASCII digits naming an id the column can
    hold, else 422. Python's `int()` would also take `²`-like digits of other scripts, signs, spaces and
    underscores, and a number past the column's range would fail in the database, mid-stream."""
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(EVENT_ID_MAX)) or int(text) > EVENT_ID_MAX:
        raise ApiError(
            422, f"invalid_{name.lower().replace('-', '_')}", f"{name} must be an event id this feed sent (digits)"
        )
    return int(text)


StorableText = Annotated[str, AfterValidator(refuse_unstorable)]
"""Free text from a client: no NUL, no lone surrogate; refused with 422 rather than repaired."""
Note = Annotated[str, AfterValidator(note_text), WithJsonSchema({"type": "string", "maxLength": MAX_TEXT_LENGTH})]
Comment = Annotated[
    str, AfterValidator(comment_text), WithJsonSchema({"type": "string", "maxLength": MAX_COMMENT_LENGTH})
]
BodyId = Annotated[str, StringConstraints(pattern=_ID_SHAPE.pattern, max_length=MAX_ID_LENGTH)]
"""An id the service made, given in a request body: the shape of one, else 422 naming the field."""
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
HandoffId = Annotated[str, path_id("handoff_id", "hand-off")]
