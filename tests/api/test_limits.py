"""Abuse and spend limits: a customer's messages per minute, and the daily cost budgets."""

from __future__ import annotations

from sqlmodel import select

from agent.conversations.tables import ChatMessage
from agent.models.base import Usage
from agent.models.scripted import ScriptedModel, say
from agent.turn.replies import DAILY_BUDGET_SPENT
from testkit.service import running_service

JAMES = "james_li_5688"


async def test_too_many_messages_a_minute_get_429_with_retry_after_and_are_not_stored(sqlite_url: str) -> None:
    async with running_service(sqlite_url, SUPPORT_CHAT_PER_MINUTE=2) as service:
        conversation = await service.new_conversation(JAMES)
        for text in ("hello", "hello again"):
            assert (await service.say(JAMES, conversation, text)).status_code == 200
        refused = await service.say(JAMES, conversation, "and again")
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "rate_limited"
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        async with service.services.database.session(readonly=True) as session:
            stored = (await session.exec(select(ChatMessage.content).where(ChatMessage.role == "customer"))).all()
        assert list(stored) == ["hello", "hello again"]
        # Another customer is not affected.
        other = await service.new_conversation("raj_sanchez_2970")
        assert (await service.say("raj_sanchez_2970", other, "hi")).status_code == 200


async def test_a_spent_daily_budget_is_answered_politely_without_calling_the_model(sqlite_url: str) -> None:
    # One expensive answer (priced as an unknown model, the dearest row) uses up a one-cent daily budget.
    model = ScriptedModel([say("Here to help.", usage=Usage(input_tokens=2_000, output_tokens=500))])
    async with running_service(sqlite_url, model, SUPPORT_CUSTOMER_DAILY_COST_USD=0.01) as service:
        conversation = await service.new_conversation(JAMES)
        first = (await service.say(JAMES, conversation, "hello")).json()["run"]
        assert first["status"] == "completed" and first["usage"]["cost_usd"] > 0.01
        second = await service.say(JAMES, conversation, "one more thing")
        assert second.status_code == 200
        run = second.json()["run"]
        assert (run["status"], run["budget_exhausted"], run["reply"]) == (
            "budget_exhausted",
            "customer_daily_cost",
            DAILY_BUDGET_SPENT,
        )
    model.assert_done()  # the second turn never reached the model


async def test_the_store_wide_daily_budget_stops_every_customer(sqlite_url: str) -> None:
    model = ScriptedModel([say("Here to help.", usage=Usage(input_tokens=2_000, output_tokens=500))])
    async with running_service(sqlite_url, model, SUPPORT_STORE_DAILY_COST_USD=0.01) as service:
        await service.say(JAMES, await service.new_conversation(JAMES), "hello")
        other = "raj_sanchez_2970"
        run = (await service.say(other, await service.new_conversation(other), "hi")).json()["run"]
        assert (run["status"], run["budget_exhausted"]) == ("budget_exhausted", "store_daily_cost")


async def test_a_replay_is_answered_even_when_the_rate_limit_is_reached(sqlite_url: str) -> None:
    async with running_service(sqlite_url, SUPPORT_CHAT_PER_MINUTE=2) as service:
        conversation = await service.new_conversation(JAMES)
        first = await service.say(JAMES, conversation, "hello", **{"Idempotency-Key": "k-1"})
        assert first.status_code == 200
        assert (await service.say(JAMES, conversation, "hello again")).status_code == 200
        assert (await service.say(JAMES, conversation, "third")).status_code == 429
        replayed = await service.say(JAMES, conversation, "hello", **{"Idempotency-Key": "k-1"})
        assert replayed.status_code == 200
        assert replayed.headers["Idempotent-Replayed"] == "true"
        assert replayed.json() == first.json()
