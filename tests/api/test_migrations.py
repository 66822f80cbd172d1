"""Alembic owns the schema: the migrations build exactly the tables the code declares, on both databases."""

from __future__ import annotations

from collections.abc import Callable

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from agent.conversations import feed
from agent.conversations.store import RunStore
from api import all_tables as schema
from api.migrate import alembic_config, upgrade
from basics.clock import utcnow
from basics.database import Database


def _differences(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, schema.metadata))


async def test_the_migrations_match_the_models(database_url: str) -> None:
    database = Database(database_url)
    try:
        await upgrade(database)  # already at head: nothing to do, and nothing breaks
        async with database.engine.connect() as connection:
            assert await connection.run_sync(_differences) == []
            tables = await connection.run_sync(lambda c: set(inspect(c).get_table_names()))
        assert {"alembic_version", "approvals", "runs", "orders", "ledger"} <= tables
    finally:
        await database.dispose()


def test_the_schema_module_names_every_table_the_service_declares() -> None:
    """Migrations and the benchmarks read the metadata through `api.all_tables`: a table missing from it would be
    seen only when some other import happened to declare it first."""
    import api.app  # noqa: F401 - every router, store and tool, so every table the service declares

    named = {
        table.__table__.name
        for table in (getattr(schema, name) for name in schema.__all__)
        if hasattr(table, "__table__")
    }
    assert named == set(schema.metadata.tables)


def _to(revision: str) -> Callable[[Connection], None]:
    return lambda connection: command.downgrade(alembic_config(connection), revision)


def _up(connection: Connection) -> None:
    command.upgrade(alembic_config(connection), "head")


async def test_0007_moves_the_desk_events_into_the_conversation_feed_and_back(database_url: str) -> None:
    database = Database(database_url)
    try:
        conversation = (await RunStore(database).create_conversation("james_li_5688")).id
        await database.run_schema_change(_to("0006"))
        async with database.engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO desk_events (conversation_id, handoff_id, kind, actor, created_at) "
                    "VALUES (:c, 'hoff_1', 'handoff.queued', NULL, :t), (:c, 'hoff_1', 'handoff.claimed', 'alice', :t)"
                ),
                {"c": conversation, "t": utcnow()},
            )
        await database.run_schema_change(_up)
        async with database.session(readonly=True) as session:
            moved = await feed.events_after(session, conversation, 0, limit=10)
        assert [(e.kind, e.data) for e in moved] == [
            ("handoff.queued", {"conversation_id": conversation, "handoff_id": "hoff_1", "actor": None}),
            ("handoff.claimed", {"conversation_id": conversation, "handoff_id": "hoff_1", "actor": "alice"}),
        ]
        await database.run_schema_change(_to("0006"))
        async with database.engine.connect() as connection:
            back = (await connection.execute(text("SELECT kind, actor FROM desk_events ORDER BY id"))).all()
        assert [tuple(row) for row in back] == [("handoff.queued", None), ("handoff.claimed", "alice")]
        await database.run_schema_change(_up)
    finally:
        await database.dispose()


def _indexes(connection: Connection) -> set[str]:
    found = inspect(connection)
    return {str(index["name"]) for table in ("conversations", "approvals") for index in found.get_indexes(table)}


async def test_0014_indexes_a_customers_conversations_by_time_and_approvals_by_run_and_back(database_url: str) -> None:
    added = {
        "ix_conversations_customer_created",
        "ix_approvals_run_id",
        "ix_approvals_resumed_run_id",
        "ix_approvals_status_expires",
    }
    replaced = {"ix_conversations_customer_id", "ix_approvals_expires_at"}
    database = Database(database_url)
    try:
        async with database.engine.connect() as connection:
            at_head = await connection.run_sync(_indexes)
        await database.run_schema_change(_to("0013"))
        async with database.engine.connect() as connection:
            before = await connection.run_sync(_indexes)
        await database.run_schema_change(_up)
    finally:
        await database.dispose()
    assert added <= at_head and not replaced & at_head
    assert not added & before and replaced <= before
