"""Bearer-token authentication: an HS256 JWT with `sub`, `role` and `exp`, turned into a `Principal`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, get_args

import jwt
from fastapi import Depends, Request

from api.errors import ApiError
from api.inputs import MAX_SUBJECT_LENGTH, valid_subject
from tools.context import Principal, Role

ALGORITHM = "HS256"
ROLES: tuple[str, ...] = get_args(Role)


def mint_token(secret: str, subject: str, role: str = "customer", ttl: timedelta = timedelta(hours=1)) -> str:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if not valid_subject(subject):
        raise ValueError(f"the subject must be 1-{MAX_SUBJECT_LENGTH} printable characters")
    now = datetime.now(UTC)
    claims = {"sub": subject, "role": role, "iat": now, "exp": now + ttl}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def decode_token(secret: str, token: str) -> Principal:
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM], options={"require": ["sub", "role", "exp"]})
    except jwt.ExpiredSignatureError:
        raise _unauthorized("token_expired", "the token has expired") from None
    except jwt.InvalidTokenError:
        raise _unauthorized("invalid_token", "the token is not valid") from None
    subject, role = claims.get("sub"), claims.get("role")
    # A signed token is trusted for who it names, not for being well-formed: a NUL or an over-long `sub` would
    # otherwise reach the database as a customer id.
    if not valid_subject(subject) or role not in ROLES:
        raise _unauthorized("invalid_token", "the token's subject or role is not valid")
    return Principal(id=subject, role=role)


def _unauthorized(code: str, message: str) -> ApiError:
    return ApiError(401, code, message, headers={"WWW-Authenticate": "Bearer"})


def current_principal(request: Request) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("missing_token", "send 'Authorization: Bearer <token>'")
    return decode_token(request.app.state.services.settings.jwt_secret.get_secret_value(), token.strip())


def customer(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
    if not principal.is_customer:
        raise ApiError(403, "forbidden", "only customers can do this")
    return principal


def staff(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
    if not principal.is_staff:
        raise ApiError(403, "forbidden", "only support staff can do this")
    return principal


AnyPrincipal = Annotated[Principal, Depends(current_principal)]
CustomerPrincipal = Annotated[Principal, Depends(customer)]
StaffPrincipal = Annotated[Principal, Depends(staff)]
