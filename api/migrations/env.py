"""Alembic's entry point. The service runs it in-process (`api.migrate.upgrade`) on a connection it passes in;
the `alembic` command line uses `sqlalchemy.url` or `DATABASE_URL` instead."""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection

from api import all_tables
from basics.dialects import dialect_of

target_metadata = all_tables.metadata

# One process migrates at a time: replicas starting together wait for the first one (PostgreSQL only;
# SQLite serialises writers by itself).
_MIGRATION_LOCK_KEY = 0x5_0A_7E


def run_migrations(connection: Connection) -> None:
    dialect = dialect_of(connection)
    if dialect.concurrent_writers:
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=dialect.alters_by_copy,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def sync_url(url: str) -> str:
    return url.replace("sqlite+aiosqlite", "sqlite").replace("postgresql://", "postgresql+psycopg://", 1)


connection = context.config.attributes.get("connection")
if connection is not None:
    run_migrations(connection)
else:
    url = os.environ.get("DATABASE_URL") or context.config.get_main_option("sqlalchemy.url") or ""
    with create_engine(sync_url(url)).begin() as own_connection:
        run_migrations(own_connection)
