"""Seeded test databases on SQLite and PostgreSQL, cheap to copy per test.

A template is seeded once per test session; each test gets its own copy (a file copy on SQLite,
`CREATE DATABASE ... TEMPLATE` on PostgreSQL), so tests never see each other's writes.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

from basics.database import Database

POSTGRES_ADMIN_URL = os.environ.get("SUPPORT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


async def prepare_schema(database: Database) -> None:
    """Create the schema the way the service does (its migrations) and seed the store."""
    from api.services import prepare_database

    await prepare_database(database, seed=True)


def build_sqlite_template(directory: Path) -> Path:
    path = directory / "template.sqlite3"
    database = Database(f"sqlite:///{path}")

    async def build() -> None:
        await prepare_schema(database)
        await database.dispose()

    asyncio.run(build())
    return path


def sqlite_copy(template: Path, directory: Path) -> str:
    target = directory / f"store-{uuid.uuid4().hex[:8]}.sqlite3"
    shutil.copyfile(template, target)
    return f"sqlite:///{target}"


def _admin() -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True)


def postgres_url(name: str) -> str:
    return make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def build_postgres_template() -> str:
    name = f"support_tmpl_{os.getpid()}"
    with _admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    database = Database(postgres_url(name))

    async def build() -> None:
        await prepare_schema(database)
        await database.dispose()

    asyncio.run(build())
    return name


def postgres_copy(template: str) -> str:
    name = f"support_t_{uuid.uuid4().hex[:12]}"
    with _admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    return name


def drop_postgres(name: str) -> None:
    with _admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def postgres_exists(name: str) -> bool:
    with _admin() as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None


def create_postgres(name: str) -> str:
    """A new, empty PostgreSQL database called `name` (the service migrates and seeds it); returns its URL."""
    with _admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return postgres_url(name)


@contextmanager
def empty_postgres(prefix: str = "bench") -> Iterator[str]:
    """A new, empty PostgreSQL database for the block (the service migrates and seeds it), dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    create_postgres(name)
    try:
        yield postgres_url(name)
    finally:
        drop_postgres(name)
