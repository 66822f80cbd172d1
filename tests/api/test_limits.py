"""Abuse and spend limits: a customer's messages per minute, and the daily cost budgets, on both databases.

On PostgreSQL a message starts in one statement with no transaction around it (`PostgresWrites.start_alone`),
so what a refusal leaves behind is undone by statements of its own: a message over the rate limit gives its
conversation back, and a reservation one counter took while the other refused is given back. These tests look at
the rows as well as the answers."""

from __future__ import annotations

from sqlmodel import col, select

from agent.conversations.tables import ChatMessage, Conversation, ConversationEvent, Run, SpendDay
from agent.models.base import Usage
from agent.models.scripted import ScriptedModel, say
from agent.turn.replies import DAILY_BUDGET_SPENT
from testkit.service import running_service

JAMES = "james_li_5688"


async def test_too_many_messages_a_minute_get_429_with_retry_after_and_are_not_stored(database_url: str) -> None:
    async with running_service(database_url, SUPPORT_CHAT_PER_MINUTE=2) as service:
        conversation = await service.new_conversation(JAMES)
        for text in ("hello", "hello again"):
            assert (await service.say(JAMES, conversation, text)).status_code == 200
        refused = await service.say(JAMES, conversation, "and again")
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "rate_limited"
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        async with service.services.database.session(readonly=True) as session:
            stored = (await session.exec(select(ChatMessage.content).where(ChatMessage.role == "customer"))).all()
            runs = (await session.exec(select(Run.cost_micro_usd))).all()
            events = (await session.exec(select(ConversationEvent.kind))).all()
            claimed = await session.get(Conversation, conversation)
            spent = (
                await session.exec(select(SpendDay.used_micro_usd).where(SpendDay.scope == f"customer:{JAMES}"))
            ).all()
        assert list(stored) == ["hello", "hello again"]
        assert len(runs) == 2 and list(events).count("run.started") == 2
        # Nothing of the refused message is held: not the conversation, not a spend reservation.
        assert claimed is not None and claimed.active_run_id is None
        assert list(spent) == [sum(runs)]
        # Another customer is not affected.
        other = await service.new_conversation("raj_sanchez_2970")
        assert (await service.say("raj_sanchez_2970", other, "hi")).status_code == 200


async def test_a_spent_daily_budget_is_answered_politely_without_calling_the_model(database_url: str) -> None:
    # One expensive answer (priced as an unknown model, the dearest row) uses up a one-cent daily budget.
    model = ScriptedModel([say("Here to help.", usage=Usage(input_tokens=2_000, output_tokens=500))])
    async with running_service(database_url, model, SUPPORT_CUSTOMER_DAILY_COST_USD=0.01) as service:
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
        async with service.services.database.session(readonly=True) as session:
            stores = (
                await session.exec(select(SpendDay.used_micro_usd).where(col(SpendDay.scope).like("store%")))
            ).all()
            held = await session.get(Run, run["id"])
    model.assert_done()  # the second turn never reached the model
    # The store's counter took the second run's reservation while the customer's refused it: it was given back.
    assert sum(stores) == round(first["usage"]["cost_usd"] * 1_000_000)
    assert held is not None and held.reserved_micro_usd == 0


async def test_the_store_wide_daily_budget_stops_every_customer(database_url: str) -> None:
    model = ScriptedModel([say("Here to help.", usage=Usage(input_tokens=2_000, output_tokens=500))])
    async with running_service(database_url, model, SUPPORT_STORE_DAILY_COST_USD=0.01) as service:
        await service.say(JAMES, await service.new_conversation(JAMES), "hello")
        other = "raj_sanchez_2970"
        run = (await service.say(other, await service.new_conversation(other), "hi")).json()["run"]
        assert (run["status"], run["budget_exhausted"]) == ("budget_exhausted", "store_daily_cost")
        async with service.services.database.session(readonly=True) as session:
            theirs = (
                await session.exec(select(SpendDay.used_micro_usd).where(SpendDay.scope == f"customer:{other}"))
            ).all()
            held = await session.get(Run, run["id"])
    # Their own counter took the reservation while the store's refused it: it was given back, and the run holds none.
    assert list(theirs) == [0]
    assert held is not None and held.reserved_micro_usd == 0


async def test_a_replay_is_answered_even_when_the_rate_limit_is_reached(database_url: str) -> None:
    async with running_service(database_url, SUPPORT_CHAT_PER_MINUTE=2) as service:
        conversation = await service.new_conversation(JAMES)
        first = await service.say(JAMES, conversation, "hello", **{"Idempotency-Key": "k-1"})
        assert first.status_code == 200
        assert (await service.say(JAMES, conversation, "hello again")).status_code == 200
        assert (await service.say(JAMES, conversation, "third")).status_code == 429
        replayed = await service.say(JAMES, conversation, "hello", **{"Idempotency-Key": "k-1"})
        assert replayed.status_code == 200
        assert replayed.headers["Idempotent-Replayed"] == "true"
        assert replayed.json() == first.json()
