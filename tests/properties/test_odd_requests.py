"""Properties of the running service (a real `support serve` process, on SQLite and on PostgreSQL) over odd path
ids, query parameters, token claims and message bodies:

1. Never a 5xx: every answer is a success or the JSON error shape with a 4xx status.
2. Never a stuck conversation, and never a customer's input held against the model: after each odd request, the
   customer whose conversation it aimed at can still chat in it and is answered by Claude (here a fake Messages
   API, reached through the real SDK), not by the fallback that answers when Claude's circuit breaker is open.

The values are sent as raw bytes would arrive (percent-encoded UTF-8, lone surrogates included), not as a
well-behaved client library would tidy them.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import jwt
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from testkit import databases
from testkit.fakes.anthropic_api import FakeMessagesAPI
from testkit.fakes.anthropic_api import say as claude_says
from testkit.server import ServerProcess
from testkit.service import TEST_SECRET, anthropic_settings, bearer

JAMES = "james_li_5688"
AGENT = bearer("agent_alice", role="agent")

# Characters that have tripped services before: NUL and other controls, lone surrogates, URL syntax, non-ASCII
# digits, a right-to-left override.
SPECIAL = [
    "\x00",
    "\ud800",
    "\udfff",
    "\n",
    "\x7f",
    "%",
    "/",
    "?",
    "#",
    "&",
    "=",
    "|",
    " ",
    "é",
    "١",
    "\u202e",
    "\ufffd",
]
ODD_TEXT = st.one_of(
    st.text(st.one_of(st.characters(), st.sampled_from(SPECIAL)), max_size=40),
    st.integers(60, 400).map(lambda n: "x" * n),
    st.sampled_from(["", "conv_" + "0" * 32, "appr_" + "f" * 32, JAMES, "null", "-1", "1e309"]),
)
NUMBERS = st.one_of(st.integers(-5, 300), st.integers(0, 30).map(lambda e: 10**e), st.integers()).map(str)
TIMESTAMPS = st.one_of(
    st.datetimes(timezones=st.one_of(st.none(), st.timezones())).map(datetime.isoformat),
    ODD_TEXT,
)


def cursor_of(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode("utf-8", "surrogatepass")).decode()


CURSORS = st.one_of(
    st.tuples(TIMESTAMPS, st.one_of(st.just("appr_" + "0" * 32), ODD_TEXT)).map(lambda p: cursor_of(f"{p[0]}|{p[1]}")),
    ODD_TEXT,
)
PARAMETERS = {
    "status": st.one_of(st.sampled_from(["pending", "approved", "executed"]), ODD_TEXT),
    "customer_id": ODD_TEXT,
    "older_than_minutes": st.one_of(NUMBERS, ODD_TEXT),
    "limit": st.one_of(NUMBERS, ODD_TEXT),
    "cursor": CURSORS,
}
JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), ODD_TEXT),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(ODD_TEXT, inner, max_size=3)),
    max_leaves=8,
)

PROPERTY_SETTINGS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)


def url_text(value: str) -> str:
    """Percent-encoded UTF-8, lone surrogates encoded as they are (what a hostile client can put in a URL)."""
    return quote(value.encode("utf-8", "surrogatepass"), safe="")


CLAUDE_REPLY = "Your order #W2611340 is on its way."


class Service:
    def __init__(self, server: ServerProcess, claude: FakeMessagesAPI) -> None:
        self.http = httpx.Client(base_url=server.url, timeout=30)
        self.claude = claude
        created = self.http.post("/v1/conversations", headers=bearer(JAMES))
        assert created.status_code == 201, created.text
        self.conversation: str = created.json()["id"]

    def ready_to_answer(self) -> None:
        """Enough scripted replies for an odd request that turns out to be a fine message, and the check after."""
        self.claude.add(*[claude_says(CLAUDE_REPLY)] * max(0, 2 - self.claude.remaining))

    def still_chats(self) -> None:
        self.ready_to_answer()
        answer = self.http.post(
            f"/v1/conversations/{self.conversation}/messages",
            json={"content": "Where is my order #W2611340?"},
            headers=bearer(JAMES),
        )
        assert answer.status_code == 200, answer.text
        run = answer.json()["run"]
        assert (run["status"], run["reply"], run["model"]["provider"]) == ("completed", CLAUDE_REPLY, "anthropic")


def assert_answered(response: httpx.Response) -> None:
    """A 4xx in the error shape, or a success; a message that was taken was answered by Claude, not the fallback
    (input the SDK cannot send must be refused at the door, not fail the model call)."""
    assert response.status_code < 500, (response.request.method, response.request.url, response.text)
    if response.is_redirect:  # `/v1/conversations/` (an empty id) points at `/v1/conversations`
        assert response.headers["location"], response.headers
        return
    answer = response.json()
    if response.status_code >= 400:
        error = answer["error"]
        assert isinstance(error["code"], str) and isinstance(error["message"], str), response.text
    elif isinstance(answer, dict) and "run" in answer:
        assert answer["run"]["model"]["provider"] == "anthropic", response.text


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def service(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """One server per backend for the whole module: each example is a handful of requests, not a restart."""
    directory = tmp_path_factory.mktemp("odd-requests")
    name = None
    if request.param == "sqlite":
        url = databases.sqlite_copy(request.getfixturevalue("sqlite_template"), directory)
    else:
        name = databases.postgres_copy(request.getfixturevalue("postgres_template"))
        url = databases.postgres_url(name)
    claude = FakeMessagesAPI().start()
    # A high chat limit: this is about odd input, not about the rate limit (which has its own tests).
    env = {key: str(value) for key, value in anthropic_settings(claude.base_url).items()}
    server = ServerProcess(
        url, Path(directory) / "server.log", SUPPORT_CHAT_PER_MINUTE="100000", SUPPORT_CONVERSATIONS_PER_HOUR="0", **env
    ).start()
    try:
        yield Service(server, claude)
        assert not claude.failures, claude.failures
    finally:
        server.stop()
        claude.stop()
        if name is not None:
            databases.drop_postgres(name)


@PROPERTY_SETTINGS
@given(odd=ODD_TEXT)
@example(odd="conv\x00").via("a NUL byte in a path id")
@example(odd="c" * 300).via("an over-long id")
def test_odd_path_ids(service: Service, odd: str) -> None:
    target = url_text(odd)
    service.ready_to_answer()
    for method, path, headers in (
        ("GET", f"/v1/conversations/{target}", bearer(JAMES)),
        ("POST", f"/v1/conversations/{target}/messages", bearer(JAMES)),
        ("GET", f"/v1/conversations/{target}", AGENT),
        ("GET", f"/v1/approvals/{target}", AGENT),
        ("POST", f"/v1/approvals/{target}/approve", AGENT),
        ("POST", f"/v1/approvals/{target}/reject", AGENT),
    ):
        assert_answered(service.http.request(method, path, headers=headers, json={"content": "hi", "note": "x"}))
    service.still_chats()


@PROPERTY_SETTINGS
@given(query=st.fixed_dictionaries({}, optional=PARAMETERS), extra=st.dictionaries(ODD_TEXT, ODD_TEXT, max_size=2))
@example(query={"older_than_minutes": "10000000000"}, extra={}).via("the issue's date overflow")
@example(query={"cursor": cursor_of("2026-01-01T00:00:00|appr_1")}, extra={}).via("a naive cursor")
@example(query={"customer_id": "james\x00"}, extra={}).via("a NUL byte in a query parameter")
def test_odd_query_parameters(service: Service, query: dict[str, str], extra: dict[str, str]) -> None:
    pairs = [*query.items(), *extra.items()]
    url = "/v1/approvals?" + "&".join(f"{url_text(k)}={url_text(v)}" for k, v in pairs)
    response = service.http.get(url, headers=AGENT)
    assert_answered(response)
    if response.status_code == 200:
        assert isinstance(response.json(), list)
    service.still_chats()


@PROPERTY_SETTINGS
@given(
    sub=st.one_of(ODD_TEXT, st.integers(), st.none(), st.lists(ODD_TEXT, max_size=2)),
    role=st.one_of(st.sampled_from(["customer", "agent", "supervisor"]), ODD_TEXT),
    expires_in=st.sampled_from([timedelta(minutes=10), timedelta(seconds=-5), timedelta(days=3650)]),
)
@example(sub="james\x00", role="customer", expires_in=timedelta(minutes=10)).via("a NUL byte in `sub`")
@example(sub="x" * 300, role="customer", expires_in=timedelta(minutes=10)).via("a 300-character `sub`")
@example(sub="x" * 300, role="agent", expires_in=timedelta(minutes=10)).via("a 300-character staff `sub`")
def test_odd_token_claims(service: Service, sub: Any, role: str, expires_in: timedelta) -> None:
    claims = {"sub": sub, "role": role, "exp": datetime.now(UTC) + expires_in}
    headers = {"Authorization": "Bearer " + jwt.encode(claims, TEST_SECRET, algorithm="HS256")}
    service.ready_to_answer()
    for method, path in (
        ("POST", "/v1/conversations"),
        ("GET", f"/v1/conversations/{service.conversation}"),
        ("POST", f"/v1/conversations/{service.conversation}/messages"),
        ("GET", "/v1/approvals"),
    ):
        assert_answered(service.http.request(method, path, headers=headers, json={"content": "hello"}))
    service.still_chats()


@PROPERTY_SETTINGS
@given(token=st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=300))
def test_garbage_tokens(service: Service, token: str) -> None:
    response = service.http.post("/v1/conversations", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401, response.text
    service.still_chats()


@PROPERTY_SETTINGS
@given(body=st.one_of(st.fixed_dictionaries({"content": ODD_TEXT}), JSON_VALUES), key=st.none() | ODD_TEXT)
@example(body={"content": "hello \ud800"}, key=None).via("a lone surrogate")
@example(body={"content": "hello \x00"}, key="k\x00").via("a NUL byte")
def test_odd_message_bodies(service: Service, body: Any, key: str | None) -> None:
    """Sent as the raw JSON a browser would produce (`json.dumps` escapes lone surrogates as `\\ud800`)."""
    headers = {**bearer(JAMES), "content-type": "application/json"}
    if key is not None:
        headers["Idempotency-Key"] = url_text(key)  # a header holds bytes; this keeps it to visible ASCII
    service.ready_to_answer()
    response = service.http.post(
        f"/v1/conversations/{service.conversation}/messages", content=json.dumps(body).encode(), headers=headers
    )
    assert_answered(response)
    service.still_chats()
