"""What one chat turn asks of the database, and that the batching behind it loses nothing.

On PostgreSQL a read-only tool turn (one `get_order_details` call and an answer) starts in one statement (claim,
rate token, spend reservation, run, message, and the history), reads the order, and closes in one (run, steps, the
read's audit row, reply, release, spend settlement), each its own transaction: 3 statements, and no BEGIN or COMMIT.
The conversation feed's events ride on the same statements: the start's read the message's id from its insert,
the close's are drawn after the release that holds the conversation's row (which orders the feed's ids).

The tests also check that everything those statements carry is stored, and that a
conversation that is not the customer's is refused though no statement of its own reads it first.
"""

from __future__ import annotations

from typing import Any

import anyio.to_thread
import pytest
from psycopg import _queries as psycopg_queries
from sqlmodel import col, select

from agent.conversations.tables import ChatMessage, ConversationEvent, Run, SpendDay, Step
from agent.models.scripted import ScriptedModel, calls, say
from policies.audit import PolicyDecisionRecord
from testkit.service import bearer, running_service
from testkit.statements import counting

JAMES = "james_li_5688"
QUIET = {"SUPPORT_WORKER_LEASE_S": 600, "SUPPORT_APPROVAL_SWEEP_S": 3600}
TURN = 3
"""The start (claim, admission, run, message, history and their events); the order read; the batched close with
its events."""


def order_turns(count: int) -> ScriptedModel:
    model = ScriptedModel()
    for _ in range(count):
        model.add(calls(("get_order_details", {"order_id": "#W2611340"}, None)), say("It is on its way."))
    return model


async def test_a_read_only_tool_turn_costs_three_statements_feed_included_on_postgresql(
    database_url: str,
) -> None:
    async with running_service(database_url, order_turns(3), SUPPORT_CHAT_PER_MINUTE=50, **QUIET) as service:
        engine = service.services.database.engine.sync_engine
        await service.say(JAMES, await service.new_conversation(JAMES), "warm up")
        conversation = await service.new_conversation(JAMES)
        with counting(engine) as first:
            answer = await service.say(JAMES, conversation, "Where is my order #W2611340?")
        assert answer.json()["run"]["status"] == "completed", answer.text
        with counting(engine) as second:
            again = await service.say(JAMES, conversation, "And now?")
        assert again.json()["run"]["status"] == "completed", again.text
        async with service.services.database.session(readonly=True) as session:
            stored = (
                await session.exec(
                    select(ConversationEvent)
                    .where(ConversationEvent.conversation_id == conversation)
                    .order_by(col(ConversationEvent.id))
                )
            ).all()
            messages = (
                await session.exec(
                    select(ChatMessage.id, ChatMessage.content)
                    .where(ChatMessage.conversation_id == conversation)
                    .order_by(col(ChatMessage.id))
                )
            ).all()
    if engine.dialect.name == "postgresql":
        assert (first.statements, first.commits) == (TURN, 0), first.texts
        # A later message also reads the history the model is shown, in the statement that starts its turn.
        assert (second.statements, second.commits) == (TURN, 0), second.texts
        # Three statements alone on the direct path, none in a transaction of ours. A start that went the long way
        # (a session, or a transaction of several statements) would show as one, and so would a read through the
        # ORM session.
        assert first.transactions == second.transactions == 0
    else:
        assert first.commits == second.commits == 2
        # The start and the close, each a transaction on the direct path; the order's read is a statement alone.
        assert first.transactions == second.transactions == 2
    # The events the folded statements carry are all stored, in order, each message's with that message's id.
    one_turn = ["message.created", "run.started", "tool.finished", "message.created", "run.completed"]
    assert [e.kind for e in stored] == one_turn * 2
    created = [(e.data["message"]["id"], e.data["message"]["content"]) for e in stored if e.kind == "message.created"]
    assert created == [tuple(m) for m in messages]
    assert [e.data["run_id"] for e in stored] == [answer.json()["run"]["id"]] * 5 + [again.json()["run"]["id"]] * 5


async def test_a_batched_turn_stores_its_steps_the_reads_decision_the_reply_and_its_spend(database_url: str) -> None:
    async with running_service(database_url, order_turns(1), **QUIET) as service:
        conversation = await service.new_conversation(JAMES)
        answer = await service.say(JAMES, conversation, "Where is my order #W2611340?")
        run_id = answer.json()["run"]["id"]
        async with service.services.database.session(readonly=True) as session:
            run = await session.get(Run, run_id)
            steps = (await session.exec(select(Step).where(Step.run_id == run_id).order_by(col(Step.position)))).all()
            decisions = (
                await session.exec(select(PolicyDecisionRecord).where(PolicyDecisionRecord.run_id == run_id))
            ).all()
            said = (
                await session.exec(
                    select(ChatMessage.role, ChatMessage.content).where(ChatMessage.conversation_id == conversation)
                )
            ).all()
            spend = (await session.exec(select(SpendDay).where(SpendDay.scope == f"customer:{JAMES}"))).all()
    assert run is not None and run.status == "completed" and run.transcript
    assert [(s.kind, s.tool) for s in steps] == [("model", None), ("tool", "get_order_details"), ("model", None)]
    assert [(d.tool, d.outcome, d.rule) for d in decisions] == [("get_order_details", "allow", "read.allowed")]
    assert sorted(said) == [("assistant", "It is on its way."), ("customer", "Where is my order #W2611340?")]
    # The reservation was settled to what the run cost (a scripted model's turn costs nothing).
    assert [s.used_micro_usd for s in spend] == [run.cost_micro_usd]


async def test_a_turn_runs_nothing_in_a_worker_thread(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A plain `def` dependency or route runs in a worker thread (two thread switches a request); the customer's
    turn, from the new conversation to its read, has none."""
    hops: list[str] = []
    to_thread = anyio.to_thread.run_sync

    async def counted(function: Any, *args: Any, **kwargs: Any) -> Any:
        hops.append(getattr(function, "__qualname__", repr(function)))
        return await to_thread(function, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counted)
    async with running_service(database_url, order_turns(1), **QUIET) as service:
        conversation = await service.new_conversation(JAMES)
        answer = await service.say(JAMES, conversation, "Where is my order #W2611340?")
        read = await service.http.get(f"/v1/conversations/{conversation}", headers=bearer(JAMES))
        refused = await service.say(JAMES, "conv with a space", "hello")
    assert answer.json()["run"]["status"] == "completed", answer.text
    assert read.status_code == 200, read.text
    assert refused.status_code == 404  # the id check, a dependency, still refuses an id of no shape
    assert hops == []


async def test_another_customers_conversation_is_not_found_and_nothing_is_stored(database_url: str) -> None:
    async with running_service(database_url, **QUIET) as service:
        theirs = await service.new_conversation("raj_sanchez_2970")
        refused = await service.say(JAMES, theirs, "hello")
        missing = await service.say(JAMES, "conv_nowhere", "hello")
        async with service.services.database.session(readonly=True) as session:
            stored = (await session.exec(select(ChatMessage))).all()
            runs = (await session.exec(select(Run))).all()
    assert (refused.status_code, refused.json()["error"]["code"]) == (404, "not_found")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "not_found")
    assert stored == [] and runs == []


async def test_psycopg_parses_a_turns_batched_statements_once(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """psycopg scans a query's text for its placeholders on every execution unless it keeps the result; a turn's
    batched statements are over its default size for keeping (`parse_batched_statements_once`). After a first turn
    of each shape, a turn's statements are not scanned again."""
    if not database_url.startswith("postgresql"):
        pytest.skip("psycopg is PostgreSQL's driver")
    async with running_service(database_url, order_turns(3), SUPPORT_CHAT_PER_MINUTE=50, **QUIET) as service:
        conversation = await service.new_conversation(JAMES)
        await service.say(JAMES, conversation, "Where is my order #W2611340?")
        await service.say(JAMES, conversation, "And now?")  # a later message's start reads the history too
        scanned: list[int] = []
        unkept = psycopg_queries._query2pg_nocache

        def counted(query: bytes, encoding: str) -> Any:
            scanned.append(len(query))
            return unkept(query, encoding)

        monkeypatch.setattr(psycopg_queries, "_query2pg_nocache", counted)
        answer = await service.say(JAMES, conversation, "And once more?")
    assert answer.json()["run"]["status"] == "completed", answer.text
    assert scanned == []
