"""Desk sessions: a staff JWT exchanged once for a cookie, a CSRF token bound to the session, one-time links.

The cookie holds a short JWT of its own, signed with the service secret but with audience `desk`, so it is not
an API bearer token and an API token is not a session. It is HttpOnly (no script reads it), SameSite=Strict
(no other site's page sends it), Secure unless the service runs on the development secret, and expires.
Every form carries a CSRF token derived from the session id with an HMAC: a form posted without it, or with
another session's, is refused with 403.

A signed cookie alone cannot be taken back: a copy of it would work until it expired. So every session is also a
row (`desk_sessions`, keyed by a hash of the session id), read on every desk request: signing out ends the row,
and with it the session on every replica and for every copy of the cookie. A session lasts the desk's configured
time, or less when the staff token it was opened with expires sooner: a sign-in never outlives its proof.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from agent import DeskLinkUse, DeskSessionRecord
from api.desk.errors import DeskPageError, SignInRequired
from api.errors import ApiError
from api.identity import TokenVerifier
from basics.clock import utcnow
from basics.database import Database
from basics.principal import Principal

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


def stored_id(session_id: str) -> str:
    return hashlib.sha256(f"desk-session:{session_id}".encode()).hexdigest()


def session_end(now: datetime, ttl: timedelta, token_expires_at: float | None) -> datetime:
    """When a session opened now ends: after the desk's `ttl`, or when the staff token it was opened with
    expires, whichever comes first."""
    end = now + ttl
    if token_expires_at is not None:
        end = min(end, datetime.fromtimestamp(token_expires_at, UTC))
    return end


async def open_session(
    database: Database, secret: str, principal: Principal, expires_at: datetime
) -> tuple[str, DeskSession]:
    """The cookie value for a new session of `principal`, and the session it stands for, stored until
    `expires_at`. Sessions long past their end are cleared out on the way."""
    session_id = secrets.token_urlsafe(24)
    now = utcnow()
    claims = {"sub": principal.id, "role": principal.role, "sid": session_id, "aud": SESSION_AUDIENCE}
    cookie = jwt.encode({**claims, "exp": expires_at}, secret, algorithm=ALGORITHM)
    row = DeskSessionRecord(
        id=stored_id(session_id), staff_id=principal.id, role=principal.role, created_at=now, expires_at=expires_at
    )
    async with database.session() as db:
        await db.exec(delete(DeskSessionRecord).where(col(DeskSessionRecord.expires_at) < now - SESSIONS_KEPT))
        db.add(row)
        await db.commit()
    return cookie, DeskSession(principal, session_id, csrf_token(secret, session_id), expires_at)


SESSIONS_KEPT = timedelta(days=1)
"""How long an ended or expired session's row is kept after its end (for a look at who was signed in when)."""


async def read_session(database: Database, secret: str, cookie: str | None) -> DeskSession:
    """The session the cookie names, if its signature holds and its row is still open and unexpired."""
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
    if not isinstance(session_id := claims.get("sid"), str):
        raise SignInRequired
    async with database.session(readonly=True) as db:
        row = await db.get(DeskSessionRecord, stored_id(session_id))
    if row is None or row.ended_at is not None or row.expires_at <= utcnow():
        raise SignInRequired
    if (row.staff_id, row.role) != (claims["sub"], claims["role"]):
        raise SignInRequired
    principal = Principal(id=claims["sub"], role=claims["role"])
    return DeskSession(principal, session_id, csrf_token(secret, session_id), row.expires_at)


async def end_session(database: Database, session: DeskSession) -> None:
    """Sign out: the session's row is ended, so no copy of its cookie works anywhere from now on."""
    async with database.session() as db:
        row = col(DeskSessionRecord.id) == stored_id(session.session_id)
        await db.exec(
            update(DeskSessionRecord).where(row, col(DeskSessionRecord.ended_at).is_(None)).values(ended_at=utcnow())
        )
        await db.commit()


def check_csrf(session: DeskSession, submitted: str | None) -> None:
    if not submitted or not hmac.compare_digest(submitted, session.csrf):
        raise DeskPageError(403, "This form is missing its security token, or the token belongs to another session.")


async def staff_from_token(verifier: TokenVerifier, token: str) -> tuple[Principal, float]:
    """The principal of an API JWT offered at sign-in (as the API would accept it, JWKS included) and when the
    token expires; customers are refused at the desk."""
    try:
        principal, expires_at = await verifier.identify(token.strip())
    except ApiError as error:
        raise DeskPageError(401, f"That token cannot sign in: {error.message}.") from None
    if not principal.is_staff:
        raise DeskPageError(403, "The desk is for support staff; a customer's token cannot sign in here.")
    return principal, expires_at


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
