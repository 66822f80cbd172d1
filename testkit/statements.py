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
from sqlalchemy.ext.asyncio import AsyncEngine

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
    selects: list[tuple[str, Any]] = field(default_factory=list)
    """Each SELECT as sent, with its parameters, for a closer look (`rows_scanned`)."""
    sent: list[tuple[str, Any]] = field(default_factory=list)
    """Every statement as sent, with its parameters (`testkit.plans`)."""

    def reset(self) -> None:
        self.statements = self.rows = self.commits = self.transactions = 0
        self.texts.clear()
        self.selects.clear()
        self.sent.clear()


@contextmanager
def counting(engine: Engine) -> Iterator[StatementCount]:
    """Count on `engine` (an `AsyncEngine`'s `sync_engine`) until the block ends."""
    count = StatementCount()

    def on_execute(_conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith(TRANSACTION_CONTROL):
            return  # the engine's `begin` event counts the transaction
        count.statements += 1
        count.texts.append(" ".join(statement.split())[:160])
        count.sent.append((statement, parameters))
        if statement.lstrip().upper().startswith("SELECT"):
            count.selects.append((statement, parameters))
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


async def rows_scanned(engine: AsyncEngine, selects: list[tuple[str, Any]]) -> int:
    """Table rows PostgreSQL reads to answer `selects` (run again under EXPLAIN ANALYZE): rows every scan node
    produced plus those its filter threw away, so an aggregate over a growing table shows, though it returns one
    row."""
    total = 0
    async with engine.connect() as conn:
        for statement, parameters in selects:
            plan = (await conn.exec_driver_sql(f"EXPLAIN (ANALYZE, FORMAT JSON) {statement}", parameters)).scalar()
            total += _scanned(plan[0]["Plan"])
        await conn.rollback()
    return total


def _scanned(node: dict[str, Any]) -> int:
    own = 0
    if "Relation Name" in node:
        loops = int(node.get("Actual Loops", 1))
        own = int(node.get("Actual Rows", 0)) * loops + int(node.get("Rows Removed by Filter", 0))
    return own + sum(_scanned(child) for child in node.get("Plans", []))
