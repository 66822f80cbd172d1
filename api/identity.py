"""Who a bearer token says the caller is, and whether the service's identity settings are fit to run with.

Two kinds of token are accepted:

    HS256           signed with SUPPORT_JWT_SECRET (the CLI mints these; fine for one company's own tools)
    RS256 / ES256   signed by a company identity provider, verified with the keys at SUPPORT_JWKS_URL

The algorithm in the token's header only chooses which of the two checks applies; each check accepts only its
own algorithms, so an RS256 public key can never be used as an HS256 secret. `iss` and `aud` are required and
checked whenever SUPPORT_JWT_ISSUER / SUPPORT_JWT_AUDIENCE are set.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from datetime import UTC, datetime, timedelta
from typing import Any, get_args

import jwt
from jwt import PyJWKClient

from api.errors import ApiError, ConfigurationError
from api.inputs import MAX_SUBJECT_LENGTH, valid_subject
from api.settings import DEV_JWT_SECRET, Settings
from basics.principal import Principal, Role

SHARED_SECRET_ALGORITHMS = ("HS256",)
PROVIDER_ALGORITHMS = ("RS256", "ES256")
ROLES: tuple[str, ...] = get_args(Role)
MIN_SECRET_BYTES = 32
EXAMPLE_SECRETS = frozenset(
    {
        DEV_JWT_SECRET,
        "change-me",  # the README's `docker run` example
        "change-me-in-production-0123456789",  # what compose.yaml used to default to
        "replace-with-at-least-32-random-bytes",  # the example in compose.yaml's comment
    }
)
JWKS_CACHE_S = 300
TOKENS_KEPT = 10_000
"""Verified tokens a process remembers (see `TokenVerifier.principal`): a few MB at most."""


def secret_problem(settings: Settings) -> str | None:
    """Why the shared secret must not be used outside development, or None if it may."""
    secret = settings.jwt_secret.get_secret_value()
    if secret in EXAMPLE_SECRETS:
        return "SUPPORT_JWT_SECRET is a published example or the built-in development secret"
    if len(secret.encode()) < MIN_SECRET_BYTES:
        return f"SUPPORT_JWT_SECRET is shorter than {MIN_SECRET_BYTES} bytes"
    return None


def check_identity_settings(settings: Settings) -> None:
    """Refuse to start outside development with a secret anybody could know or guess."""
    if settings.is_development:
        return
    if problem := secret_problem(settings):
        raise ConfigurationError(
            f"refusing to start in {settings.environment}: {problem}. "
            'Set it to at least 32 random bytes, e.g. `python3 -c "import secrets; print(secrets.token_urlsafe(48))"`.'
        )


def mint_token(
    secret: str,
    subject: str,
    role: str = "customer",
    ttl: timedelta = timedelta(hours=1),
    *,
    issuer: str | None = None,
    audience: str | None = None,
) -> str:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if not valid_subject(subject):
        raise ValueError(f"the subject must be 1-{MAX_SUBJECT_LENGTH} printable characters")
    now = datetime.now(UTC)
    claims: dict[str, Any] = {"sub": subject, "role": role, "iat": now, "exp": now + ttl}
    if issuer:
        claims["iss"] = issuer
    if audience:
        claims["aud"] = audience
    return jwt.encode(claims, secret, algorithm=SHARED_SECRET_ALGORITHMS[0])


class TokenVerifier:
    """Turns a bearer token into a `Principal`, or raises a 401 `ApiError`."""

    def __init__(self, settings: Settings) -> None:
        self.secret = settings.jwt_secret.get_secret_value()
        self.issuer = settings.jwt_issuer
        self.audience = settings.jwt_audience
        # PyJWKClient keeps the key set for `lifespan` seconds and refetches it when a token names an unknown
        # key id, so a provider's key rotation is picked up without a restart.
        self.jwks = (
            PyJWKClient(settings.jwks_url, cache_keys=True, lifespan=JWKS_CACHE_S) if settings.jwks_url else None
        )
        self._verified: OrderedDict[str, tuple[Principal, float, float]] = OrderedDict()
        """Verified token -> (its principal, until when it may be answered from memory, its expiry), least
        recently used first."""

    async def principal(self, token: str) -> Principal:
        """Who the token names (see `identify`)."""
        return (await self.identify(token))[0]

    async def identify(self, token: str) -> tuple[Principal, float]:
        """Who the token names, and when the token expires (seconds since the epoch). A customer's widget sends
        the same token with every request; a token verified in the last `JWKS_CACHE_S` seconds (as long as a
        provider key is trusted after it left the key set) is answered from memory until it expires, instead of
        being decoded and its signature checked again."""
        now = time.time()
        known = self._verified.get(token)
        if known is not None:
            principal, good_until, expires_at = known
            if now < good_until:
                self._verified.move_to_end(token)
                return principal, expires_at
            del self._verified[token]  # expired, or verified too long ago: checked again (and refused if expired)
        principal, expires_at = await self._verify(token)
        self._verified[token] = (principal, min(expires_at, now + JWKS_CACHE_S), expires_at)
        if len(self._verified) > TOKENS_KEPT:
            self._verified.popitem(last=False)
        return principal, expires_at

    async def _verify(self, token: str) -> tuple[Principal, float]:
        try:
            algorithm = jwt.get_unverified_header(token).get("alg")
        except jwt.InvalidTokenError:
            raise unauthorized("invalid_token", "the token is not valid") from None
        if algorithm in PROVIDER_ALGORITHMS and self.jwks is not None:
            key = await self._provider_key(token)
            # Only the named key's own algorithm: an ES256 header naming an RSA key is a forgery, not a 500.
            if key.algorithm_name != algorithm:
                raise unauthorized("invalid_token", "the token's algorithm does not match its signing key")
            return self._decode(token, key.key, (algorithm,))
        if algorithm in SHARED_SECRET_ALGORITHMS:
            return self._decode(token, self.secret, SHARED_SECRET_ALGORITHMS)
        raise unauthorized("invalid_token", f"tokens signed with {algorithm!s} are not accepted here")

    async def _provider_key(self, token: str) -> jwt.PyJWK:
        assert self.jwks is not None
        try:
            # PyJWKClient fetches with blocking urllib; a thread keeps the event loop free while it does.
            signing_key = await asyncio.to_thread(self.jwks.get_signing_key_from_jwt, token)
        except jwt.PyJWKClientConnectionError:
            raise ApiError(503, "identity_unavailable", "the identity provider's keys could not be fetched") from None
        except jwt.PyJWKClientError:
            raise unauthorized(
                "invalid_token", "the token's signing key is not one of the identity provider's"
            ) from None
        except jwt.PyJWTError:
            raise unauthorized("invalid_token", "the token is not valid") from None
        return signing_key

    def _decode(self, token: str, key: Any, algorithms: tuple[str, ...]) -> tuple[Principal, float]:
        required = ["sub", "role", "exp"] + (["iss"] if self.issuer else []) + (["aud"] if self.audience else [])
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=list(algorithms),
                issuer=self.issuer,
                audience=self.audience,
                options={"require": required},
            )
        except jwt.ExpiredSignatureError:
            raise unauthorized("token_expired", "the token has expired") from None
        except jwt.InvalidIssuerError:
            raise unauthorized("invalid_token", "the token was not issued by the configured issuer") from None
        except jwt.InvalidAudienceError:
            raise unauthorized("invalid_token", "the token is not meant for this service (audience)") from None
        except jwt.PyJWTError:  # every other way a token fails verification (a key of the wrong kind, say)
            raise unauthorized("invalid_token", "the token is not valid") from None
        expiry = claims.get("exp")
        # PyJWT accepts a numeric string such as "9999999999"; the JWT spec says a NumericDate is a number.
        if isinstance(expiry, bool) or not isinstance(expiry, int | float):
            raise unauthorized("invalid_token", "the token's exp must be a number")
        subject, role = claims.get("sub"), claims.get("role")
        # A signed token is trusted for who it names, not for being well-formed: a NUL or an over-long `sub`
        # would otherwise reach the database as a customer id.
        if not valid_subject(subject) or role not in ROLES:
            raise unauthorized("invalid_token", "the token's subject or role is not valid")
        return Principal(id=subject, role=role), float(expiry)


def unauthorized(code: str, message: str) -> ApiError:
    return ApiError(401, code, message, headers={"WWW-Authenticate": "Bearer"})
