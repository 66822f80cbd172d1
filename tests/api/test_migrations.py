"""Alembic owns the schema: the migrations build exactly the tables the code declares, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from api import schema
from api.migrate import upgrade
from tools.store.database import Database


def _differences(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True, "include_name": schema.include_name})
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
