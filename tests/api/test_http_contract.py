"""The HTTP contract around a chat turn: who may do what, request limits, error shape, idempotency."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import jwt
import pytest

from agent.models.scripted import ScriptedModel, Step, say
from testkit.service import bearer, running_service

JAMES = "james_li_5688"
OTHER = "noah_brown_6181"


async def test_auth_matrix(sqlite_url: str) -> None:
    async with running_service(sqlite_url, ScriptedModel()) as service:
        conversation = await service.new_conversation(JAMES)
        path = f"/v1/conversations/{conversation}"
        expired = bearer(JAMES, ttl=timedelta(seconds=-5))
        forged = {
            "Authorization": "Bearer "
            + jwt.encode({"sub": JAMES, "role": "customer", "exp": 2**40}, "not-the-secret", algorithm="HS256")
        }
        no_role = {"Authorization": "Bearer " + jwt.encode({"sub": JAMES, "exp": 2**40}, "x" * 40, algorithm="HS256")}
        cases = [
            ("POST", "/v1/conversations", {}, 401, "missing_token"),
            ("POST", "/v1/conversations", {"Authorization": "Basic abc"}, 401, "missing_token"),
            ("POST", "/v1/conversations", expired, 401, "token_expired"),
            ("POST", "/v1/conversations", forged, 401, "invalid_token"),
            ("POST", "/v1/conversations", no_role, 401, "invalid_token"),
            ("POST", "/v1/conversations", bearer("agent-1", "agent"), 403, "forbidden"),
            ("GET", path, bearer(OTHER), 404, "not_found"),
            ("POST", f"{path}/messages", bearer(OTHER), 404, "not_found"),
            ("POST", f"{path}/messages", bearer("agent-1", "agent"), 403, "forbidden"),
            ("GET", path, {}, 401, "missing_token"),
        ]
        for method, url, headers, status, code in cases:
            response = await service.http.request(method, url, headers=headers, json={"content": "hi"})
            assert (response.status_code, response.json()["error"]["code"]) == (status, code), (method, url, headers)
            if status == 401:
                assert response.headers["WWW-Authenticate"] == "Bearer"
        # Staff may read any conversation; its customer may read their own.
        for headers in (bearer("agent-1", "agent"), bearer("sup-1", "supervisor"), bearer(JAMES)):
            assert (await service.http.get(path, headers=headers)).status_code == 200
        assert (await service.http.get("/v1/conversations/conv_missing", headers=bearer(JAMES))).status_code == 404


async def test_message_size_and_shape(sqlite_url: str) -> None:
    async with running_service(sqlite_url, ScriptedModel()) as service:
        conversation = await service.new_conversation(JAMES)
        url = f"/v1/conversations/{conversation}/messages"
        too_big = await service.say(JAMES, conversation, "x" * 8193)
        assert too_big.status_code == 413 and too_big.json()["error"]["code"] == "message_too_large"
        multibyte = await service.say(JAMES, conversation, "é" * 4097)  # 8194 bytes
        assert multibyte.status_code == 413
        for bad, code in [
            ({"content": ""}, "empty_message"),
            ({"content": "   \n"}, "empty_message"),
            ({}, "invalid_request"),
            ({"content": 5}, "invalid_request"),
            ({"content": "hi", "extra": 1}, "invalid_request"),
        ]:
            response = await service.http.post(url, json=bad, headers=bearer(JAMES))
            assert (response.status_code, response.json()["error"]["code"]) == (422, code), bad
        broken = await service.http.post(
            url, content=b"{not json", headers={**bearer(JAMES), "content-type": "application/json"}
        )
        assert broken.status_code == 422
        unknown = await service.http.get("/v1/nothing-here")
        assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"
        # None of the refused requests stored anything.
        assert await service.services.runs.messages(conversation) == []


async def test_exactly_8kb_is_accepted(sqlite_url: str) -> None:
    async with running_service(sqlite_url, ScriptedModel([say("ok")])) as service:
        conversation = await service.new_conversation(JAMES)
        assert (await service.say(JAMES, conversation, "x" * 8192)).status_code == 200


async def test_idempotency_key_replays_without_a_second_run(sqlite_url: str) -> None:
    model = ScriptedModel([say("Only once.")])  # a second run would find no step and fail the test
    async with running_service(sqlite_url, model) as service:
        conversation = await service.new_conversation(JAMES)
        first = await service.say(JAMES, conversation, "hello", **{"Idempotency-Key": "k-1"})
        again = await service.say(JAMES, conversation, "hello", **{"Idempotency-Key": "k-1"})
        assert first.status_code == again.status_code == 200
        assert again.json() == first.json()
        assert again.headers["Idempotent-Replayed"] == "true"
        reused = await service.say(JAMES, conversation, "something else", **{"Idempotency-Key": "k-1"})
        assert reused.status_code == 422 and reused.json()["error"]["code"] == "idempotency_key_reused"
        assert len(await service.services.runs.runs(conversation)) == 1
    model.assert_done()


async def test_idempotency_key_while_the_first_is_running(database_url: str) -> None:
    model = ScriptedModel([Step(response=say("done"), delay_s=0.5)])
    async with running_service(database_url, model) as service:
        conversation = await service.new_conversation(JAMES)
        first = asyncio.create_task(service.say(JAMES, conversation, "hello", **{"Idempotency-Key": "k-2"}))
        await asyncio.sleep(0.2)
        racing = await service.say(JAMES, conversation, "hello", **{"Idempotency-Key": "k-2"})
        assert racing.status_code == 409 and racing.json()["error"]["code"] == "request_in_progress"
        assert (await first).status_code == 200
        replay = await service.say(JAMES, conversation, "hello", **{"Idempotency-Key": "k-2"})
        assert replay.json()["run"]["reply"] == "done"
    model.assert_done()


async def test_keys_are_per_customer(sqlite_url: str) -> None:
    model = ScriptedModel([say("for james"), say("for noah")])
    async with running_service(sqlite_url, model) as service:
        mine = await service.new_conversation(JAMES)
        theirs = await service.new_conversation(OTHER)
        a = await service.say(JAMES, mine, "hello", **{"Idempotency-Key": "same"})
        b = await service.say(OTHER, theirs, "hello", **{"Idempotency-Key": "same"})
    assert (a.json()["run"]["reply"], b.json()["run"]["reply"]) == ("for james", "for noah")


@pytest.mark.parametrize("key", ["", "x" * 201, "bad\nkey"])
async def test_malformed_idempotency_key(sqlite_url: str, key: str) -> None:
    async with running_service(sqlite_url, ScriptedModel()) as service:
        conversation = await service.new_conversation(JAMES)
        response = await service.http.post(
            f"/v1/conversations/{conversation}/messages",
            json={"content": "hi"},
            headers={**bearer(JAMES), "Idempotency-Key": key},
        )
    assert response.status_code in (400, 422)


async def test_healthz_names_the_model(sqlite_url: str) -> None:
    async with running_service(sqlite_url, ScriptedModel()) as service:
        health = (await service.http.get("/healthz")).json()
    assert health["status"] == "ok"
    assert health["model"] == {"provider": "scripted", "name": "scripted-1"}
    assert health["database"] == {"dialect": "sqlite", "reachable": True}
