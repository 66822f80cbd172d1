"""Counting what the service asks of its database: statements, rows they return, commits and transactions.

SQLAlchemy's engine events see every statement the service sends (ORM or Core) and every commit, whatever the
driver, so a test or a benchmark can hold a turn to a budget of round trips without timing anything.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")
"""Statements that only open or close a transaction (SQLite's `BEGIN IMMEDIATE` is sent as one): not counted as
statements, so both databases report the same work."""


@dataclass
class StatementCount:
    statements: int = 0
    rows: int = 0
    """Rows the statements returned (SELECT and RETURNING); a statement that writes and returns nothing adds 0."""
    commits: int = 0
    transactions: int = 0
    texts: list[str] = field(default_factory=list)

    def reset(self) -> None:
        self.statements = self.rows = self.commits = self.transactions = 0
        self.texts.clear()


@contextmanager
def counting(engine: Engine) -> Iterator[StatementCount]:
    """Count on `engine` (an `AsyncEngine`'s `sync_engine`) until the block ends."""
    count = StatementCount()

    def on_execute(_conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith(TRANSACTION_CONTROL):
            return  # the engine's `begin` event counts the transaction
        count.statements += 1
        count.texts.append(" ".join(statement.split())[:160])
        if cursor.description is not None:
            count.rows += _buffered_rows(cursor)

    def on_begin(_conn: Any) -> None:
        count.transactions += 1

    def on_commit(_conn: Any) -> None:
        count.commits += 1

    event.listen(engine, "after_cursor_execute", on_execute)
    event.listen(engine, "begin", on_begin)
    event.listen(engine, "commit", on_commit)
    try:
        yield count
    finally:
        event.remove(engine, "after_cursor_execute", on_execute)
        event.remove(engine, "begin", on_begin)
        event.remove(engine, "commit", on_commit)


def _buffered_rows(cursor: Any) -> int:
    """Rows a SELECT or RETURNING produced. SQLAlchemy's async adapters (aiosqlite, psycopg) fetch the whole
    result into the cursor's buffer as the statement runs, so it can be counted here without consuming it."""
    rows = getattr(cursor, "_rows", None)
    if rows is not None:
        return len(rows)
    return max(int(getattr(cursor, "rowcount", 0) or 0), 0)
