"""Production identity: RS256/ES256 tokens from an identity provider's JWKS (served here by the test), `iss` and
`aud` checks, `exp` as a number, and the refusal to start outside development with a secret anybody could know."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from api import identity
from api.errors import ConfigurationError
from api.identity import mint_token
from testkit.service import TEST_SECRET, running_service

ISSUER = "https://id.example.test/"
AUDIENCE = "support-agent"
CUSTOMER = "james_li_5688"


class IdentityProvider:
    """Keys, a JWKS endpoint on a local port, and tokens signed as a provider signs them."""

    def __init__(self) -> None:
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ec = ec.generate_private_key(ec.SECP256R1())
        self.fetches = 0
        keys = [
            {**json.loads(RSAAlgorithm.to_jwk(self.rsa.public_key())), "kid": "rsa-1", "alg": "RS256", "use": "sig"},
            {**json.loads(ECAlgorithm.to_jwk(self.ec.public_key())), "kid": "ec-1", "alg": "ES256", "use": "sig"},
        ]
        body = json.dumps({"keys": keys}).encode()
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                provider.fetches += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/.well-known/jwks.json"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def token(self, kind: str = "rsa", **overrides: Any) -> str:
        claims: dict[str, Any] = {"sub": CUSTOMER, "role": "customer", "iss": ISSUER, "aud": AUDIENCE}
        claims["exp"] = int(time.time()) + 600
        claims.update(overrides)
        claims = {k: v for k, v in claims.items() if v is not None}
        if kind == "rsa":
            return jwt.encode(claims, self.rsa, algorithm="RS256", headers={"kid": "rsa-1"})
        return jwt.encode(claims, self.ec, algorithm="ES256", headers={"kid": "ec-1"})

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def provider() -> Iterator[IdentityProvider]:
    idp = IdentityProvider()
    yield idp
    idp.close()


def with_provider(idp: IdentityProvider) -> dict[str, str]:
    return {"SUPPORT_JWKS_URL": idp.url, "SUPPORT_JWT_ISSUER": ISSUER, "SUPPORT_JWT_AUDIENCE": AUDIENCE}


async def create(service: Any, token: str) -> tuple[int, dict[str, Any]]:
    answer = await service.http.post("/v1/conversations", headers={"Authorization": f"Bearer {token}"})
    return answer.status_code, answer.json()


async def test_rs256_and_es256_tokens_from_the_jwks_are_accepted_and_the_keys_cached(
    sqlite_url: str, provider: IdentityProvider
) -> None:
    async with running_service(sqlite_url, **with_provider(provider)) as service:
        for kind in ("rsa", "ec", "rsa", "ec"):
            status, body = await create(service, provider.token(kind))
            assert status == 201, body
            assert body["customer_id"] == CUSTOMER
    assert provider.fetches == 1  # one fetch for four tokens and two keys


@pytest.mark.parametrize(
    ("claims", "why"),
    [
        ({"iss": "https://evil.example.test/"}, "issuer"),
        ({"aud": "another-service"}, "audience"),
        ({"iss": None}, "not valid"),
        ({"aud": None}, "not valid"),
        ({"exp": int(time.time()) - 60}, "expired"),
        ({"exp": "9999999999"}, "must be a number"),
        ({"role": "superuser"}, "role"),
    ],
)
async def test_provider_tokens_with_wrong_claims_are_401(
    sqlite_url: str, provider: IdentityProvider, claims: dict[str, Any], why: str
) -> None:
    async with running_service(sqlite_url, **with_provider(provider)) as service:
        status, body = await create(service, provider.token("rsa", **claims))
    assert status == 401, body
    assert why in body["error"]["message"]


async def test_a_key_the_provider_does_not_publish_is_401(sqlite_url: str, provider: IdentityProvider) -> None:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    claims = {"sub": CUSTOMER, "role": "customer", "iss": ISSUER, "aud": AUDIENCE, "exp": int(time.time()) + 60}
    forged_kid = jwt.encode(claims, stranger, algorithm="RS256", headers={"kid": "rsa-2"})
    forged_sig = jwt.encode(claims, stranger, algorithm="RS256", headers={"kid": "rsa-1"})
    async with running_service(sqlite_url, **with_provider(provider)) as service:
        for token in (forged_kid, forged_sig):
            status, body = await create(service, token)
            assert status == 401, body


async def test_a_token_whose_algorithm_does_not_match_the_named_key_is_401(
    sqlite_url: str, provider: IdentityProvider
) -> None:
    claims = {"sub": CUSTOMER, "role": "customer", "iss": ISSUER, "aud": AUDIENCE, "exp": int(time.time()) + 60}
    es256_naming_rsa = jwt.encode(claims, provider.ec, algorithm="ES256", headers={"kid": "rsa-1"})
    rs256_naming_ec = jwt.encode(claims, provider.rsa, algorithm="RS256", headers={"kid": "ec-1"})
    async with running_service(sqlite_url, **with_provider(provider)) as service:
        for token in (es256_naming_rsa, rs256_naming_ec):
            status, body = await create(service, token)
            assert status == 401, body
            assert body["error"]["code"] == "invalid_token"


async def test_the_public_key_used_as_an_hs256_secret_is_refused(sqlite_url: str, provider: IdentityProvider) -> None:
    """The algorithm-confusion attack: the provider's public key is public, so it must never verify HS256."""
    public_pem = provider.rsa.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    claims = {"sub": CUSTOMER, "role": "customer", "iss": ISSUER, "aud": AUDIENCE, "exp": int(time.time()) + 60}
    header = {"kid": "rsa-1", "alg": "HS256"}
    signing_input = (
        jwt.utils.base64url_encode(json.dumps(header).encode())
        + b"."
        + jwt.utils.base64url_encode(json.dumps(claims).encode())
    )
    signature = jwt.utils.base64url_encode(hmac.new(public_pem, signing_input, hashlib.sha256).digest())
    async with running_service(sqlite_url, **with_provider(provider)) as service:
        status, _ = await create(service, (signing_input + b"." + signature).decode())
    assert status == 401


async def test_provider_tokens_without_a_configured_jwks_are_401(sqlite_url: str, provider: IdentityProvider) -> None:
    async with running_service(sqlite_url) as service:
        status, body = await create(service, provider.token("rsa"))
    assert status == 401
    assert "RS256" in body["error"]["message"]


async def test_an_unreachable_jwks_is_503_not_a_crash(sqlite_url: str, provider: IdentityProvider) -> None:
    settings = with_provider(provider)
    provider.close()
    async with running_service(sqlite_url, **settings) as service:
        status, body = await create(service, provider.token("rsa"))
    assert status == 503, body
    assert body["error"]["code"] == "identity_unavailable"


async def test_shared_secret_tokens_need_a_numeric_exp(sqlite_url: str) -> None:
    claims = {"sub": CUSTOMER, "role": "customer"}
    as_text = jwt.encode({**claims, "exp": str(int(time.time()) + 600)}, TEST_SECRET, algorithm="HS256")
    as_number = jwt.encode({**claims, "exp": int(time.time()) + 600}, TEST_SECRET, algorithm="HS256")
    async with running_service(sqlite_url) as service:
        assert (await create(service, as_text))[0] == 401
        assert (await create(service, as_number))[0] == 201


async def test_shared_secret_tokens_are_checked_for_iss_and_aud_when_configured(sqlite_url: str) -> None:
    claims = {"sub": CUSTOMER, "role": "customer", "exp": int(time.time()) + 600}
    bare = jwt.encode(claims, TEST_SECRET, algorithm="HS256")
    scoped = jwt.encode({**claims, "iss": ISSUER, "aud": AUDIENCE}, TEST_SECRET, algorithm="HS256")
    settings = {"SUPPORT_JWT_ISSUER": ISSUER, "SUPPORT_JWT_AUDIENCE": AUDIENCE}
    async with running_service(sqlite_url, **settings) as service:
        assert (await create(service, bare))[0] == 401
        assert (await create(service, scoped))[0] == 201


@pytest.mark.parametrize(
    ("secret", "why"),
    [
        ("dev-only-secret-change-me-0123456789abcdef", "example"),
        ("change-me-in-production-0123456789", "example"),
        ("short-but-random-Zx81", "shorter than 32 bytes"),
    ],
)
async def test_outside_development_a_weak_secret_stops_the_start(sqlite_url: str, secret: str, why: str) -> None:
    with pytest.raises(ConfigurationError, match=why):
        async with running_service(sqlite_url, SUPPORT_ENV="production", SUPPORT_JWT_SECRET=secret):
            pass


async def test_in_development_the_dev_secret_still_starts(sqlite_url: str) -> None:
    from api.settings import DEV_JWT_SECRET

    async with running_service(sqlite_url, SUPPORT_JWT_SECRET=DEV_JWT_SECRET) as service:
        assert (await service.http.get("/livez")).status_code == 200


async def test_outside_development_a_strong_secret_starts(sqlite_url: str) -> None:
    async with running_service(sqlite_url, SUPPORT_ENV="production") as service:  # TEST_SECRET: 44 random-ish bytes
        assert (await service.http.get("/livez")).status_code == 200


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every token the service decodes (checks the signature and claims of), in order."""
    decoded: list[str] = []
    decode = jwt.decode

    def counted(token: str, *args: Any, **kwargs: Any) -> Any:
        decoded.append(token)
        return decode(token, *args, **kwargs)

    monkeypatch.setattr(jwt, "decode", counted)
    return decoded


async def test_a_remembered_token_is_still_refused_once_it_expires(sqlite_url: str, decodes: list[str]) -> None:
    """A token is decoded once and then answered from memory, but never past its `exp`."""
    expires = int(time.time()) + 2
    short = jwt.encode({"sub": CUSTOMER, "role": "customer", "exp": expires}, TEST_SECRET, algorithm="HS256")
    async with running_service(sqlite_url) as service:
        assert [(await create(service, short))[0] for _ in range(3)] == [201, 201, 201]
        assert decodes == [short]
        time.sleep(max(0.0, expires - time.time()) + 0.05)  # noqa: ASYNC251 - nothing else runs meanwhile
        status, body = await create(service, short)
    assert (status, body["error"]["code"]) == (401, "token_expired")


async def test_only_so_many_tokens_are_remembered(
    sqlite_url: str, decodes: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(identity, "TOKENS_KEPT", 2)
    first, second, third = (mint_token(TEST_SECRET, customer, "customer") for customer in ("a_1", "b_2", "c_3"))
    async with running_service(sqlite_url) as service:
        for token in (first, second, first, third, first, second):
            assert (await create(service, token))[0] == 201
    # `first` was used last when `third` came, so `second` made room for it; then `first` is still known.
    assert decodes == [first, second, third, second]
