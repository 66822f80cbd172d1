"""What a database backend can do that changes how we write to it, as one object per backend.

The code asks a question of the backend (`dialect.one_statement_writes`) instead of comparing its name, so the
reason for each difference is written once, here, and a backend we do not know is refused by name rather than
taken for one we do.

    one_statement_writes  data-modifying common table expressions: several writes of a transaction, all on one
                          snapshot and all or nothing, go as one statement (one round trip)
    concurrent_writers    writers run at once, so what a count guards needs a lock, and the feed's ids need its
                          conversation's row lock to commit in order; SQLite runs one writing transaction at a time
    alters_by_copy        ALTER TABLE is limited: a migration rebuilds the table (Alembic's batch mode)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Dialect:
    name: str
    one_statement_writes: bool
    concurrent_writers: bool
    alters_by_copy: bool


SQLITE = Dialect("sqlite", one_statement_writes=False, concurrent_writers=False, alters_by_copy=True)
POSTGRESQL = Dialect("postgresql", one_statement_writes=True, concurrent_writers=True, alters_by_copy=False)
DIALECTS = {dialect.name: dialect for dialect in (SQLITE, POSTGRESQL)}


class UnknownDialect(ValueError):
    """A database of a backend the service was not built for (only SQLite and PostgreSQL are)."""


def dialect_named(name: str) -> Dialect:
    try:
        return DIALECTS[name]
    except KeyError:
        raise UnknownDialect(f"unsupported database backend {name!r}: use SQLite or PostgreSQL") from None


def dialect_of(bind: Any) -> Dialect:
    """The dialect of a SQLAlchemy engine, connection or session bind (an `AsyncSession`'s `session.bind`)."""
    return dialect_named(str(bind.dialect.name))
