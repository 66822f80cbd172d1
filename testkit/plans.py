"""How the database answers a statement: the plans of what the service sent, in a line each, so a reader sees an
index where a table is large and notices a scan or a sort that grows with it.

PostgreSQL: `auto_explain` loaded into the service's own connections (a superuser may load it per session) hands
back the plan of every statement as it ran, with its timings and buffers, as a notice: the statements that write
need no replay (a replay would collide with the rows they stored). SQLite: `EXPLAIN QUERY PLAN` of the statement
as it was sent, which does not run it.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

LARGE = 10_000
"""Rows from which a table is large: a plan that reads all of it is a finding."""
MANY = 1_000
"""Rows from which a sort is a finding: a sort that grows with a customer's history (a turn sorts a handful)."""


@dataclass
class Plan:
    statement: str
    nodes: list[str]
    time_ms: float | None = None
    buffers: int | None = None
    """Shared buffers hit or read (PostgreSQL)."""
    findings: list[str] = field(default_factory=list)
    scanned: list[str] = field(default_factory=list)
    """Tables the plan reads whole (PostgreSQL's `Seq Scan`), whether or not that node ran this time."""

    def flag_large_scans(self, rows_of: dict[str, float]) -> None:
        """Add a finding for each table the plan would read whole that holds `LARGE` rows or more (`rows_of`: the
        planner's estimate per table): a plan's branch that did not run this time may run on the next turn."""
        for table in self.scanned:
            if rows_of.get(table, 0) >= LARGE:
                self.findings.append(f"a plan that reads all of {table} (about {rows_of[table]:,.0f} rows)")


@contextmanager
def explaining_postgres(engine: Engine) -> Iterator[list[Plan]]:
    """Plans of every statement `engine` (an `AsyncEngine`'s `sync_engine`, PostgreSQL) runs on a connection it
    opens in the block. Dispose of the engine's pool first, so every connection is a new one."""
    plans: list[Plan] = []

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        for setting in (
            "LOAD 'auto_explain'",
            "SET auto_explain.log_min_duration = 0",
            "SET auto_explain.log_analyze = on",
            "SET auto_explain.log_buffers = on",
            "SET auto_explain.log_format = json",
            "SET auto_explain.log_level = notice",
            "SET client_min_messages = notice",
        ):
            cursor.execute(setting)
        cursor.close()
        dbapi_connection.commit()  # a setting made in a transaction that is rolled back is undone
        dbapi_connection.driver_connection.add_notice_handler(lambda notice: _noticed(plans, notice.message_primary))

    event.listen(engine, "connect", on_connect)
    try:
        yield plans
    finally:
        event.remove(engine, "connect", on_connect)


def _noticed(plans: list[Plan], message: str | None) -> None:
    if not message or "{" not in message:
        return
    explained = json.loads(message[message.index("{") :])
    root = explained["Plan"]
    nodes: list[str] = []
    findings: list[str] = []
    scanned: list[str] = []
    _walk(root, nodes, findings, scanned)
    buffers = sum(int(root.get(key, 0)) for key in ("Shared Hit Blocks", "Shared Read Blocks"))
    statement = " ".join(str(explained.get("Query Text", "")).split())
    took = float(explained.get("Execution Time", root.get("Actual Total Time", 0)))
    plans.append(Plan(statement, nodes, took, buffers, findings, scanned))


def _walk(node: dict[str, Any], nodes: list[str], findings: list[str], scanned: list[str]) -> None:
    kind = str(node["Node Type"])
    rows = int(node.get("Actual Rows", 0)) * int(node.get("Actual Loops", 1))
    removed = int(node.get("Rows Removed by Filter", 0))
    where = node.get("Relation Name")
    index = node.get("Index Name")
    described = kind + (f" {where}" if where else "") + (f" ({index})" if index else "")
    nodes.append(f"{described} rows={rows}" + (f" filtered={removed}" if removed else ""))
    if kind == "Seq Scan":
        scanned.append(str(where))
    if kind in ("Sort", "Incremental Sort"):
        sorted_rows = sum(int(c.get("Actual Rows", 0)) * int(c.get("Actual Loops", 1)) for c in node.get("Plans", []))
        if sorted_rows >= MANY:
            findings.append(f"sorts {sorted_rows} rows")
    if kind.startswith(("Index", "Bitmap")) and rows + removed >= LARGE:
        findings.append(f"reads {rows + removed} rows of {where or index}")
    for child in node.get("Plans", []):
        _walk(child, nodes, findings, scanned)


def explain_sqlite(path: str, sent: list[tuple[str, Any]]) -> list[Plan]:
    """`EXPLAIN QUERY PLAN` of each statement as sent (its parameters bound), on the SQLite file at `path`."""
    plans = []
    with sqlite3.connect(path) as connection:
        for statement, parameters in sent:
            if statement.lstrip().upper().startswith("PRAGMA"):
                continue
            rows = connection.execute(f"EXPLAIN QUERY PLAN {statement}", _sqlite_parameters(parameters)).fetchall()
            nodes = [str(row[3]) for row in rows]
            findings = [n for n in nodes if (n.startswith("SCAN ") and "CONSTANT ROW" not in n) or "TEMP B-TREE" in n]
            plans.append(Plan(" ".join(statement.split()), nodes, findings=findings))
    return plans


def _sqlite_parameters(parameters: Any) -> Any:
    """The first row of an executemany, each value as SQLite's driver would take it."""
    row = parameters[0] if isinstance(parameters, list) else parameters
    return tuple(value if isinstance(value, int | float | str | bytes | None) else str(value) for value in row)
