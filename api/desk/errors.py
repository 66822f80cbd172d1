"""Errors of the desk's pages. They render as pages (or a redirect), not as the API's JSON.

SignInRequired      no valid session cookie: 303 to the sign-in page
DeskPageError       status + message, shown on a plain page (a refused sign-in, a missing CSRF token)
"""

from __future__ import annotations

from api.errors import ApiError
from api.inputs import known_id_shape


class SignInRequired(Exception):
    pass


class DeskPageError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def desk_id(value: str, what: str) -> str:
    """A path id as the API checks it (`api.inputs.known_id_shape`); one that cannot name anything is the desk's
    404 page, before it reaches the database (PostgreSQL refuses a NUL in it with an error, not a miss)."""
    try:
        return known_id_shape(value, what)
    except ApiError as error:
        raise DeskPageError(404, error.message) from None
