"""Shared fixtures: a freshly seeded store per test, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from basics.database import Database
from policies.config import PolicyConfig, load_policy
from policies.engine import PolicyEngine
from testkit import databases
from testkit.confirm import without_confirmations
from testkit.server import ServerProcess
from tools import registry


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return databases.build_sqlite_template(tmp_path_factory.mktemp("sqlite-template"))


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    name = databases.build_postgres_template()
    yield name
    databases.drop_postgres(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A seeded store of its own for this test, once on each backend."""
    if request.param == "sqlite":
        yield databases.sqlite_copy(request.getfixturevalue("sqlite_template"), tmp_path)
        return
    name = databases.postgres_copy(request.getfixturevalue("postgres_template"))
    yield databases.postgres_url(name)
    databases.drop_postgres(name)


@pytest.fixture
def postgresql_url(postgres_template: str) -> Iterator[str]:
    """A seeded PostgreSQL store of its own, for tests of what only PostgreSQL has (its connection pool, its row
    locks) and of several server processes sharing one database."""
    name = databases.postgres_copy(postgres_template)
    yield databases.postgres_url(name)
    databases.drop_postgres(name)


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    """A seeded SQLite store, for tests whose subject does not depend on the backend."""
    return databases.sqlite_copy(sqlite_template, tmp_path)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    yield database
    await database.dispose()


@pytest.fixture
def servers() -> Iterator[list[ServerProcess]]:
    """Server processes a test starts (append them); stopped when the test ends, however it ends."""
    started: list[ServerProcess] = []
    yield started
    for server in started:
        server.stop()


@pytest.fixture
def policy() -> PolicyConfig:
    return load_policy()


@pytest.fixture
def engine(policy: PolicyConfig) -> PolicyEngine:
    return PolicyEngine(policy, registry)


@pytest.fixture
def no_confirmations(tmp_path: Path) -> str:
    """`SUPPORT_POLICY_FILE` for a test whose scripted model drives writes and whose subject is not the
    customer's confirmation (see `testkit.confirm.without_confirmations`)."""
    return without_confirmations(tmp_path)
