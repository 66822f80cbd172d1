"""Bringing a database's schema to the current revision. Alembic owns the schema; nothing calls create_all."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from tools.store.database import Database

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
