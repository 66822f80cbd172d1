"""Odd bytes and absurd values in paths, query strings, tokens and message bodies.

Each gets its clear answer (404 for an id that cannot name anything, 422 for a bad parameter or body, 401 for a
token naming no one) and never a 500, on both databases: PostgreSQL is the one that refuses NUL characters, so
the cases that used to be 500s there are the point. After each, the same customer can still chat.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest

from agent.models.scripted import ScriptedModel, say
from cli import main as cli
from testkit.confirm import answer
from testkit.fakes.anthropic_api import FakeMessagesAPI
from testkit.fakes.anthropic_api import say as claude_says
from testkit.service import TEST_SECRET, ServiceClient, anthropic_settings, bearer, running_service

JAMES = "james_li_5688"
OTHER = "noah_brown_6181"
AGENT = bearer("agent_alice", role="agent")

ODD_PATH_IDS = [  # as they appear in a URL, percent-encoded
    "conv%00",
    "%00",
    "conv_" + "0" * 32 + "%00x",
    "c" * 300,
    "conv_%ED%A0%80",  # a lone surrogate, UTF-8 encoded
    "conv%C3%A9",
    "conv%0A",
]


def signed(claims: dict[str, Any]) -> dict[str, str]:
    """A correctly signed token with whatever claims the test wants, well-formed or not."""
    return {"Authorization": "Bearer " + jwt.encode({"exp": 2**40, **claims}, TEST_SECRET, algorithm="HS256")}


async def post_raw(service: ServiceClient, url: str, body: dict[str, Any], headers: dict[str, str]) -> httpx.Response:
    """POST a JSON body that may hold lone surrogates (escaped, as a browser's JSON.stringify sends them)."""
    return await service.http.post(
        url, content=json.dumps(body).encode(), headers={**headers, "content-type": "application/json"}
    )


def cursor_of(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode("utf-8", "surrogatepass")).decode()


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> None:
    assert response.status_code == status, (response.request.url, response.text)
    error = response.json()["error"]
    assert error["message"]
    if code is not None:
        assert error["code"] == code, response.text


async def still_chats(service: ServiceClient, customer: str = JAMES) -> None:
    conversation = await service.new_conversation(customer)
    answer = await service.say(customer, conversation, "Where is my order #W2611340?")
    assert answer.status_code == 200, answer.text
    assert answer.json()["run"]["status"] == "completed"


@pytest.mark.parametrize("odd", ODD_PATH_IDS, ids=range(len(ODD_PATH_IDS)))
async def test_an_odd_id_in_a_path_is_404(database_url: str, odd: str) -> None:
    async with running_service(database_url) as service:
        customer_requests = [
            ("GET", f"/v1/conversations/{odd}"),
            ("POST", f"/v1/conversations/{odd}/messages"),
        ]
        staff_requests = [
            ("GET", f"/v1/conversations/{odd}"),
            ("GET", f"/v1/approvals/{odd}"),
            ("POST", f"/v1/approvals/{odd}/approve"),
            ("POST", f"/v1/approvals/{odd}/reject"),
        ]
        for headers, requests in ((bearer(JAMES), customer_requests), (AGENT, staff_requests)):
            for method, url in requests:
                response = await service.http.request(method, url, headers=headers, json={"content": "hi"})
                assert_error(response, 404, "not_found")
                # Authentication comes first: an odd id tells a caller without a token nothing.
                assert_error(await service.http.request(method, url, json={"content": "hi"}), 401, "missing_token")
        await still_chats(service)


@pytest.mark.parametrize(
    "query",
    [
        "customer_id=james%00",
        "customer_id=" + "x" * 300,
        "customer_id=",
        "status=pending%00",
        "older_than_minutes=10000000000",
        "older_than_minutes=-1",
        "older_than_minutes=99999999999999999999999999",
        "limit=0",
        "limit=1000000000000000000000000",
        "cursor=" + "A" * 500,
        "cursor=%00",
        "cursor=!!not-base64!!",
        "cursor=" + cursor_of("2026-01-01T00:00:00|appr_1"),  # a naive timestamp
        "cursor=" + cursor_of("yesterday|appr_1"),
        "cursor=" + cursor_of("2026-01-01T00:00:00+00:00"),  # no id
        "cursor=" + cursor_of("2026-01-01T00:00:00+00:00|appr\x00"),
        "cursor=" + cursor_of("2026-01-01T00:00:00+00:00|appr_\ud800"),
        "cursor=" + cursor_of("0001-01-01T00:00:00+05:00|appr_1"),  # before year 1 in UTC
        "cursor=" + cursor_of("\x00|\x00"),
    ],
)
async def test_a_bad_query_parameter_is_422(database_url: str, query: str) -> None:
    async with running_service(database_url) as service:
        assert_error(await service.http.get(f"/v1/approvals?{query}", headers=AGENT), 422)
        await still_chats(service)


async def test_bounded_query_parameters_at_their_limits_are_answered(database_url: str) -> None:
    async with running_service(database_url) as service:
        for query in (
            "older_than_minutes=5270400",
            "older_than_minutes=0",
            "customer_id=" + "x" * 80,
            "limit=200",
            "cursor=" + cursor_of("2026-01-01T00:00:00+02:00|appr_" + "0" * 32),
        ):
            response = await service.http.get(f"/v1/approvals?{query}", headers=AGENT)
            assert response.status_code == 200 and response.json() == [], (query, response.text)


@pytest.mark.parametrize(
    "claims",
    [
        {"sub": "james\x00", "role": "customer"},
        {"sub": "\x00", "role": "agent"},
        {"sub": "x" * 300, "role": "customer"},
        {"sub": "x" * 81, "role": "agent"},
        {"sub": "james_li_5688\ud800", "role": "customer"},
        {"sub": " james_li_5688", "role": "customer"},
        {"sub": "line\nbreak", "role": "agent"},
        {"sub": "", "role": "customer"},
        {"sub": 5688, "role": "customer"},
        {"sub": ["james_li_5688"], "role": "customer"},
        {"sub": JAMES, "role": "customer\x00"},
    ],
    ids=range(11),
)
async def test_a_token_whose_subject_names_no_one_is_401(database_url: str, claims: dict[str, Any]) -> None:
    async with running_service(database_url) as service:
        conversation = await service.new_conversation(JAMES)
        headers = signed(claims)
        for method, url in (
            ("POST", "/v1/conversations"),
            ("GET", f"/v1/conversations/{conversation}"),
            ("POST", f"/v1/conversations/{conversation}/messages"),
            ("GET", "/v1/approvals"),
        ):
            response = await service.http.request(method, url, headers=headers, json={"content": "hi"})
            assert_error(response, 401, "invalid_token")
        assert await service.services.runs.messages(conversation) == []
        await still_chats(service)


@pytest.mark.parametrize("subject", ["x" * 81, "a\x00b", " james_li_5688"])
def test_the_cli_refuses_to_mint_a_token_the_service_would_refuse(
    subject: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SUPPORT_JWT_SECRET", TEST_SECRET)
    with pytest.raises(SystemExit, match="subject must be 1-80 printable characters"):
        cli.main(["token", subject])
    assert capsys.readouterr().out == ""
    cli.main(["token", JAMES])
    assert jwt.decode(capsys.readouterr().out.strip(), TEST_SECRET, algorithms=["HS256"])["sub"] == JAMES


@pytest.mark.parametrize("content", ["hello \ud800", "\udfff", "hi\x00there", "\x00"], ids=range(4))
async def test_a_message_with_a_lone_surrogate_or_nul_is_422_and_nothing_is_kept(
    database_url: str, content: str
) -> None:
    async with running_service(database_url, ScriptedModel([say("Hello!")])) as service:
        conversation = await service.new_conversation(JAMES)
        response = await post_raw(
            service, f"/v1/conversations/{conversation}/messages", {"content": content}, bearer(JAMES)
        )
        assert_error(response, 422, "invalid_request")
        assert "content" in response.json()["error"]["message"]
        assert await service.services.runs.messages(conversation) == []
        # The conversation is not left busy: the next message is answered.
        answer = await service.say(JAMES, conversation, "hello")
        assert answer.status_code == 200 and answer.json()["run"]["reply"] == "Hello!"


@pytest.fixture
def claude() -> Iterator[FakeMessagesAPI]:
    with FakeMessagesAPI() as fake:
        yield fake


async def test_poisoned_messages_never_reach_the_model_api_and_others_stay_on_claude(
    sqlite_url: str, claude: FakeMessagesAPI
) -> None:
    """Before, each such message made the SDK fail to encode its request, the failure counted against Claude's
    circuit breaker, and after three every other customer was answered by the offline fallback."""
    claude.add(claude_says("Hello Noah, how can I help?"))
    async with running_service(sqlite_url, **anthropic_settings(claude.base_url)) as service:
        conversation = await service.new_conversation(JAMES)
        for _ in range(5):
            response = await post_raw(
                service, f"/v1/conversations/{conversation}/messages", {"content": "hello \ud800"}, bearer(JAMES)
            )
            assert_error(response, 422, "invalid_request")
        assert claude.requests == []
        theirs = await service.new_conversation(OTHER)
        answer = (await service.say(OTHER, theirs, "hello")).json()["run"]
    assert answer["reply"] == "Hello Noah, how can I help?"
    assert answer["model"]["provider"] == "anthropic"
    claude.assert_done()


async def test_a_decision_note_with_nul_is_422(database_url: str) -> None:
    """The note is stored with the decision; a NUL in it is refused before anything is decided."""
    async with running_service(database_url) as service:
        conversation = await service.new_conversation(JAMES)
        asked = (await service.say(JAMES, conversation, "Order #W2611340 arrived damaged, please refund $150")).json()
        run = await answer(service, JAMES, conversation, asked["run"])
        approval = run["pending_action"]["approval_id"]
        for note in ("ok\x00", "ok \ud800", "x" * 2001):
            for action in ("approve", "reject"):
                response = await post_raw(service, f"/v1/approvals/{approval}/{action}", {"note": note}, AGENT)
                assert_error(response, 422, "invalid_request")
        still = await service.http.get(f"/v1/approvals/{approval}", headers=AGENT)
        assert still.json()["status"] == "pending"
        rejected = await service.http.post(f"/v1/approvals/{approval}/reject", json={"note": "no"}, headers=AGENT)
        assert rejected.status_code == 200
