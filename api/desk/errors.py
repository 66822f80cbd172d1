"""Errors of the desk's pages. They render as pages (or a redirect), not as the API's JSON.

SignInRequired      no valid session cookie: 303 to the sign-in page
DeskPageError       status + message, shown on a plain page (a refused sign-in, a missing CSRF token)
"""

from __future__ import annotations


class SignInRequired(Exception):
    pass


class DeskPageError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
