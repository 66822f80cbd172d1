"""Bringing a database's schema to the current revision. Alembic owns the schema; nothing calls create_all."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from basics.database import Database

MIGRATIONS = Path(__file__).with_name("migrations")


class UnmanagedSchema(RuntimeError):
    """The database has the service's tables but no migration history: it was made by a pre-release build."""


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def _upgrade(connection: Connection) -> None:
    tables = set(inspect(connection).get_table_names())
    if "orders" in tables and "alembic_version" not in tables:
        raise UnmanagedSchema(
            "this database was created before the schema had migrations; its tables may differ from the baseline. "
            "Recreate it (for the default SQLite store: delete var/support.sqlite3)."
        )
    command.upgrade(alembic_config(connection), "head")


async def upgrade(database: Database) -> None:
    await database.run_schema_change(_upgrade)


@cache
def head_revisions() -> frozenset[str]:
    return frozenset(ScriptDirectory.from_config(alembic_config()).get_heads())


def _current_revisions(connection: Connection) -> frozenset[str]:
    return frozenset(MigrationContext.configure(connection).get_current_heads())


async def is_current(database: Database) -> bool:
    """Whether the database's schema is at this build's head revision (what `/readyz` reports): a replica of a
    newer build that has not been migrated yet must not take traffic."""
    async with database.engine.connect() as connection:
        current = await connection.run_sync(_current_revisions)
    return current == head_revisions()
