"""Desk sessions: a staff JWT exchanged once for a cookie, a CSRF token bound to the session, one-time links.

The cookie holds a short JWT of its own, signed with the service secret but with audience `desk`, so it is not
an API bearer token and an API token is not a session. It is HttpOnly (no script reads it), SameSite=Strict
(no other site's page sends it), Secure unless the service runs on the development secret, and expires.
Every form carries a CSRF token derived from the session id with an HMAC: a form posted without it, or with
another session's, is refused with 403. Sessions live in the cookie only; signing out deletes it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
from sqlalchemy.exc import IntegrityError

from agent.tables import DeskLinkUse
from api.desk.errors import DeskPageError, SignInRequired
from api.errors import ApiError
from api.identity import TokenVerifier
from tools.context import Principal, utcnow
from tools.store.database import Database

SESSION_COOKIE = "desk_session"
SESSION_AUDIENCE = "desk"
LINK_AUDIENCE = "desk-link"


@dataclass(frozen=True, slots=True)
class DeskSession:
    principal: Principal
    session_id: str
    csrf: str
    expires_at: datetime


ALGORITHM = "HS256"
"""The desk signs its own session cookies and sign-in links with the service secret."""


def csrf_token(secret: str, session_id: str) -> str:
    return hmac.new(secret.encode(), f"desk-csrf:{session_id}".encode(), hashlib.sha256).hexdigest()


def open_session(secret: str, principal: Principal, ttl: timedelta) -> tuple[str, DeskSession]:
    """The cookie value for a new session of `principal`, and the session it stands for."""
    session_id = secrets.token_urlsafe(24)
    expires = datetime.now(UTC) + ttl
    claims = {"sub": principal.id, "role": principal.role, "sid": session_id, "aud": SESSION_AUDIENCE, "exp": expires}
    cookie = jwt.encode(claims, secret, algorithm=ALGORITHM)
    return cookie, DeskSession(principal, session_id, csrf_token(secret, session_id), expires)


def read_session(secret: str, cookie: str | None) -> DeskSession:
    if not cookie:
        raise SignInRequired
    try:
        claims = jwt.decode(
            cookie, secret, algorithms=[ALGORITHM], audience=SESSION_AUDIENCE, options={"require": ["sid", "exp"]}
        )
    except jwt.InvalidTokenError:
        raise SignInRequired from None
    if claims.get("role") not in ("agent", "supervisor") or not isinstance(claims.get("sub"), str):
        raise SignInRequired
    principal = Principal(id=claims["sub"], role=claims["role"])
    expires = datetime.fromtimestamp(claims["exp"], UTC)
    return DeskSession(principal, claims["sid"], csrf_token(secret, claims["sid"]), expires)


def check_csrf(session: DeskSession, submitted: str | None) -> None:
    if not submitted or not hmac.compare_digest(submitted, session.csrf):
        raise DeskPageError(403, "This form is missing its security token, or the token belongs to another session.")


async def staff_from_token(verifier: TokenVerifier, token: str) -> Principal:
    """The principal of an API JWT offered at sign-in (as the API would accept it, JWKS included); customers are
    refused at the desk."""
    try:
        principal = await verifier.principal(token.strip())
    except ApiError as error:
        raise DeskPageError(401, f"That token cannot sign in: {error.message}.") from None
    if not principal.is_staff:
        raise DeskPageError(403, "The desk is for support staff; a customer's token cannot sign in here.")
    return principal


def mint_link_token(secret: str, staff_id: str, role: str, ttl: timedelta = timedelta(minutes=15)) -> str:
    """A one-time sign-in token for `support desk-link`: short-lived, and refused once used."""
    now = datetime.now(UTC)
    claims = {
        "sub": staff_id,
        "role": role,
        "aud": LINK_AUDIENCE,
        "jti": secrets.token_hex(16),
        "iat": now,
        "exp": now + ttl,
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


async def redeem_link(database: Database, secret: str, token: str) -> Principal:
    """The staff member a one-time link signs in; the link is spent in the same step (one insert wins)."""
    try:
        claims = jwt.decode(
            token, secret, algorithms=[ALGORITHM], audience=LINK_AUDIENCE, options={"require": ["jti", "exp", "sub"]}
        )
    except jwt.ExpiredSignatureError:
        raise DeskPageError(401, "This sign-in link has expired; ask for a new one.") from None
    except jwt.InvalidTokenError:
        raise DeskPageError(401, "This sign-in link is not valid.") from None
    if claims.get("role") not in ("agent", "supervisor"):
        raise DeskPageError(403, "Sign-in links are for support staff.")
    try:
        async with database.session() as session:
            session.add(DeskLinkUse(jti=str(claims["jti"])[:64], staff_id=claims["sub"], used_at=utcnow()))
            await session.commit()
    except IntegrityError:
        raise DeskPageError(401, "This sign-in link was already used; ask for a new one.") from None
    return Principal(id=claims["sub"], role=claims["role"])
