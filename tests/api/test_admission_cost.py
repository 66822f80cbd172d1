"""The chat rate limit and the daily spend checks cost the same however many runs the day already holds.

They read a customer's last minute of runs (an index range) and two counter rows (`spend_days`), never the
day's runs. Measured through the chat API with SQLAlchemy's engine events: a customer message is answered with
the same statements, returning the same number of rows, after 10 runs today as after 5,000; on PostgreSQL the
turn's queries, run again under EXPLAIN ANALYZE, also read no more table rows (this is the check that catches a
sum over the day's runs, which returns one row either way; SQLite has no such per-query row count).
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import insert

from agent.conversations.tables import Conversation, Run
from basics.clock import utcnow
from testkit.service import ServiceClient, running_service
from testkit.statements import StatementCount, counting, rows_scanned

JAMES = "james_li_5688"
QUIET = {"SUPPORT_WORKER_LEASE_S": 600, "SUPPORT_APPROVAL_SWEEP_S": 3600}
"""No lease renewal or approval sweep while a turn is counted: only the turn's own statements."""


async def add_runs_today(service: ServiceClient, count: int, offset: int) -> None:
    """`count` finished runs of the customer, spread over the last hours (all today, none in the last minute)."""
    now = utcnow()
    conversation = f"conv_past_{offset}"
    rows = [
        {
            "id": f"run_past_{offset + i}",
            "conversation_id": conversation,
            "customer_id": JAMES,
            "status": "completed",
            "started_at": now - timedelta(minutes=2) - timedelta(seconds=i % 3600),
            "cost_micro_usd": 10,
            "transcript": [],
        }
        for i in range(count)
    ]
    async with service.services.database.session() as session:
        await session.exec(insert(Conversation).values(id=conversation, customer_id=JAMES, created_at=now))  # type: ignore[call-overload]
        await session.exec(insert(Run), params=rows)  # type: ignore[call-overload]
        await session.commit()


async def one_message(service: ServiceClient) -> StatementCount:
    conversation = await service.new_conversation(JAMES)
    with counting(service.services.database.engine.sync_engine) as count:
        answer = await service.say(JAMES, conversation, "hello")
    assert answer.status_code == 200, answer.text
    assert answer.json()["run"]["status"] == "completed"
    return count


async def test_the_limits_read_as_much_after_5000_runs_today_as_after_10(database_url: str) -> None:
    async with running_service(database_url, SUPPORT_CHAT_PER_MINUTE=50, **QUIET) as service:
        engine = service.services.database.engine
        postgres = engine.dialect.name == "postgresql"
        await add_runs_today(service, 10, offset=0)
        await one_message(service)  # warm: the first message of a process loads what later ones reuse
        few = await one_message(service)
        scanned_few = await rows_scanned(engine, few.selects) if postgres else 0
        await add_runs_today(service, 4_990, offset=10)
        many = await one_message(service)
        scanned_many = await rows_scanned(engine, many.selects) if postgres else 0
    assert many.statements == few.statements, (few.texts, many.texts)
    assert many.rows == few.rows, (few.texts, many.texts)
    assert many.commits == few.commits
    if postgres:
        # What the database reads, not only what it returns: a sum over the day's runs would read 5,000 rows.
        assert scanned_many <= scanned_few + 10, (scanned_few, scanned_many)
