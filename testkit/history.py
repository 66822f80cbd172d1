"""A store with a long history, seeded in a few set-based statements: for measuring that a turn costs the same
on a store that has answered a million messages as on a new one (`benchmarks/large_store.py`).

Every table a turn reads or writes gets the rows real traffic would have left: conversations spread over many
customers (one customer in a hundred conversations is the benchmark's own customer, `HEAVY_CUSTOMER`, so that
reads scoped to a customer meet a long history), several runs per conversation, each with its two messages, three
steps (a model call, an order read, a model call), the read's audit row and the feed's five events; and, as a
share of the runs, held calls (decided, each resumed by the next run), hand-offs (closed, with a staff message
outside the runs), idempotency keys, flags, verdicts, ledger writes, the days' spend and the customers' chat
allowances. All of it lies between 90 days and one day ago, so today's counters start empty.

One `INSERT ... SELECT` per table over a numbers source (PostgreSQL's `generate_series`, SQLite's recursive
CTE), all in one transaction: a million runs take minutes, not the hours a Python loop would.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import make_url

from basics.clock import utcnow

HEAVY_CUSTOMER = "james_li_5688"
RUNS_PER_CONVERSATION = 5
CONVERSATIONS_PER_CUSTOMER = 8
DAYS = 90


@dataclass(frozen=True, slots=True)
class HistorySize:
    runs: int

    @property
    def conversations(self) -> int:
        return max(1, self.runs // RUNS_PER_CONVERSATION)

    @property
    def customers(self) -> int:
        return max(1, self.conversations // CONVERSATIONS_PER_CUSTOMER)


@dataclass(frozen=True, slots=True)
class SeedDialect:
    """The few SQL fragments that differ between the two databases."""

    numbers: str
    """A CTE body `n(i)` of the integers 0 .. :count - 1."""
    at: Callable[[str], str]
    """A timestamp column's value for `expr` seconds since the epoch."""
    day: Callable[[str], str]
    """The UTC day of a timestamp column."""
    json: Callable[[str], str]
    """A JSON column's value for a text expression."""


POSTGRES = SeedDialect(
    numbers="SELECT generate_series(0, :count - 1)",
    at=lambda seconds: f"to_timestamp({seconds})",
    day=lambda column: f"({column} AT TIME ZONE 'UTC')::date",
    json=lambda expr: f"CAST({expr} AS jsonb)",
)
SQLITE = SeedDialect(
    numbers="SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < :count",
    at=lambda seconds: f"(strftime('%Y-%m-%d %H:%M:%f', {seconds}, 'unixepoch') || '000')",
    day=lambda column: f"substr({column}, 1, 10)",
    json=lambda expr: expr,
)


def customer_of(conversation: int, size: HistorySize) -> str:
    """The customer of seeded conversation number `conversation` (`hc_<number>`), as `_customer` gives it."""
    return HEAVY_CUSTOMER if conversation % 100 == 0 else f"shopper_{conversation % size.customers}"


def _customer(conversation: str) -> str:
    number = f"({conversation})"
    return f"(CASE WHEN {number} % 100 = 0 THEN '{HEAVY_CUSTOMER}' ELSE 'shopper_' || ({number} % :customers) END)"


def _conversation_at(conversation: str) -> str:
    """Seconds since the epoch when conversation number `conversation` started: spread evenly over the days."""
    return f"(:start + ({conversation}) * :every)"


def _run_at(run: str) -> str:
    return f"({_conversation_at(f'({run}) / {RUNS_PER_CONVERSATION}')} + (({run}) % {RUNS_PER_CONVERSATION}) * 120 + 1)"


TRANSCRIPT = (
    """'[{"role": "user", "content": [{"type": "text", "text": "Where is my order #W2611340?"}]}, """
    """{"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_' || i || '", """
    """"name": "get_order_details", """
    """"input": {"order_id": "#W2611340"}}]}, {"role": "user", "content": [{"type": "tool_result", "tool_use_id": """
    """"toolu_' || i || '", "content": "{\\"order_id\\": \\"#W2611340\\", \\"status\\": \\"processed\\"}"}]}, """
    """{"role": "assistant", "content": [{"type": "text", "text": "Your order is processed."}]}]'"""
)
ORDER_READ = (
    """'{"order_id": "#W2611340", "status": "processed", """
    """"items": [{"name": "Office Chair", "price": 49900}]}'"""
)
ARGUMENTS = """'{"order_id": "#W2611340"}'"""
ORDER_ARGUMENTS = f"CASE WHEN i % 3 = 1 THEN {ARGUMENTS} ELSE 'null' END"
READ_RESULT = f"CASE WHEN i % 3 = 1 THEN {ORDER_READ} ELSE 'null' END"
EVENT_DATA = (
    """'{"conversation_id": "hc_' || (i / 5 / RUNS) || '", """
    """"run_id": "hr_' || (i / 5) || '", "seq": ' || (i % 5) || '}'"""
).replace("RUNS", str(RUNS_PER_CONVERSATION))
REFUND_ARGUMENTS = """'{"order_id": "#W2611340", "amount": 120}'"""
RESPONSE = """'{"run": {"id": "hr_' || i || '", "status": "completed"}}'"""
CANCEL_ARGUMENTS = """'{"reason": "no longer needed"}'"""
EMPTY = "'{}'"


def _statements(d: SeedDialect) -> list[tuple[str, str, int]]:
    """(table, INSERT ... SELECT over `n(i)`, how many numbers `n` counts as a multiple of the runs; 0: no `n`)."""
    run = "i"
    run_id = "'hr_' || i"
    conv = f"(i / {RUNS_PER_CONVERSATION})"
    conv_id = f"'hc_' || {conv}"
    at = d.at(_run_at(run))

    def later(seconds: int) -> str:
        return d.at(f"{_run_at(run)} + {seconds}")

    return [
        (
            "conversations",
            "INSERT INTO conversations "  # noqa: S608 - constant fragments, values bound
            f"(id, customer_id, created_at) "
            f"SELECT 'hc_' || i, {_customer('i')}, {d.at(_conversation_at('i'))} FROM n",
            -1,
        ),
        (
            "runs",
            "INSERT INTO runs "  # noqa: S608 - constant fragments, values bound
            "(id, conversation_id, customer_id, status, reply, model_provider, model_name, started_at, "
            "finished_at, model_calls, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, "
            "cost_micro_usd, transcript, resumed_from, reserved_micro_usd, route, route_reason, prompt_version, "
            f"prompt_id) SELECT {run_id}, {conv_id}, {_customer(conv)}, "
            "CASE WHEN i % 100 = 42 THEN 'awaiting_approval' WHEN i % 50 = 7 THEN 'failed' "
            f"WHEN {conv} % 50 = 3 AND i % {RUNS_PER_CONVERSATION} = {RUNS_PER_CONVERSATION - 1} THEN 'handed_off' "
            "ELSE 'completed' END, 'Your order is processed.', 'anthropic', 'claude-sonnet-4-6', "
            f"{at}, {later(3)}, 2, 1800, 60, 1500, 0, 3000 + i % 1000, {d.json(TRANSCRIPT)}, "
            "CASE WHEN i % 100 = 43 THEN 'hr_' || (i - 1) END, 0, 'default', 'read_only_lookup', 'v1', '085c27b60fd2' "
            "FROM n",
            1,
        ),
        (
            "messages",
            "INSERT INTO messages "  # noqa: S608 - constant fragments, values bound
            "(conversation_id, run_id, role, content, created_at) "
            f"SELECT 'hc_' || (i / 2 / {RUNS_PER_CONVERSATION}), 'hr_' || (i / 2), "
            "CASE WHEN i % 2 = 0 THEN 'customer' ELSE 'assistant' END, "
            "CASE WHEN i % 2 = 0 THEN 'Where is my order #W2611340?' ELSE 'Your order is processed.' END, "
            f"{d.at(_run_at('i / 2') + ' + (i % 2) * 3')} FROM n ORDER BY i",
            2,
        ),
        (
            "steps",
            "INSERT INTO steps "  # noqa: S608 - constant fragments, values bound
            "(run_id, position, kind, created_at, latency_ms, provider, model, stop_reason, "
            "input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cost_micro_usd, tool, tool_use_id, "
            "arguments, decision, rule, result, is_error) "
            "SELECT 'hr_' || (i / 3), i % 3, CASE WHEN i % 3 = 1 THEN 'tool' ELSE 'model' END, "
            f"{d.at(_run_at('i / 3') + ' + i % 3')}, 1.5, "
            "CASE WHEN i % 3 = 1 THEN NULL ELSE 'anthropic' END, "
            "CASE WHEN i % 3 = 1 THEN NULL ELSE 'claude-sonnet-4-6' END, "
            "CASE i % 3 WHEN 0 THEN 'tool_use' WHEN 2 THEN 'end_turn' END, 900, 30, 750, 0, 1500, "
            "CASE WHEN i % 3 = 1 THEN 'get_order_details' END, CASE WHEN i % 3 = 1 THEN 'toolu_' || (i / 3) END, "
            f"{d.json(ORDER_ARGUMENTS)}, "
            "CASE WHEN i % 3 = 1 THEN 'allow' END, CASE WHEN i % 3 = 1 THEN 'read.allowed' END, "
            f"{d.json(READ_RESULT)}, "
            f"{'false' if d is POSTGRES else '0'} FROM n",
            3,
        ),
        (
            "policy_decisions",
            "INSERT INTO policy_decisions "  # noqa: S608 - constant fragments, values bound
            "(created_at, tool, call_id, run_id, arguments, principal_id, principal_role, "
            "outcome, rule, reason, amount_cents, policy_version) "
            f"SELECT {later(1)}, 'get_order_details', 'toolu_' || i, {run_id}, "
            f"{d.json(ARGUMENTS)}, {_customer(conv)}, 'customer', 'allow', 'read.allowed', "
            "'reads are scoped to the customer', 0, 'retail-2026.12.1' FROM n",
            1,
        ),
        (
            "conversation_events",
            "INSERT INTO conversation_events "  # noqa: S608 - constant fragments, values bound
            "(conversation_id, kind, data, run_id, created_at) "
            f"SELECT 'hc_' || (i / 5 / {RUNS_PER_CONVERSATION}), "
            "CASE i % 5 WHEN 0 THEN 'message.created' WHEN 1 THEN 'run.started' WHEN 2 THEN 'tool.finished' "
            "WHEN 3 THEN 'message.created' ELSE 'run.completed' END, "
            f"{d.json(EVENT_DATA)}, "
            f"'hr_' || (i / 5), {d.at(_run_at('i / 5') + ' + i % 5')} FROM n ORDER BY i",
            5,
        ),
        (
            "approvals",
            "INSERT INTO approvals "  # noqa: S608 - constant fragments, values bound
            "(id, kind, status, summary, tool, tool_use_id, idempotency_key, arguments, "
            "arguments_hash, amount_cents, rule, reason, customer_message, approver_role, policy_version, "
            "conversation_id, customer_id, run_id, trace_context, state, created_at, expires_at, decided_at, "
            "decided_by, decided_role, resumed_run_id) "
            "SELECT 'ha_' || i, CASE WHEN i % 200 = 42 THEN 'confirmation' ELSE 'approval' END, "
            "CASE WHEN i % 300 = 42 THEN 'rejected' WHEN i % 700 = 142 THEN 'expired' ELSE 'executed' END, "
            "'Refund $120.00 to your card', 'issue_refund', 'toolu_' || i, 'run:hr_' || i || ':1:0', "
            f"{d.json(REFUND_ARGUMENTS)}, 'hash_' || i, 12000, "
            "'money.refund.agent_tier', 'above the automatic limit', '', 'agent', 'retail-2026.12.1', "
            f"{conv_id}, {_customer(conv)}, {run_id}, {d.json(EMPTY)}, {d.json(EMPTY)}, {later(2)}, "
            f"{later(86400)}, {later(600)}, 'alice', 'agent', 'hr_' || (i + 1) FROM n WHERE i % 100 = 42",
            1,
        ),
        (
            "handoffs",
            "INSERT INTO handoffs "  # noqa: S608 - constant fragments, values bound
            "(id, conversation_id, customer_id, status, reason, summary, run_id, created_at, "
            "claimed_by, claimed_at, closed_by, closed_at, outcome) "
            f"SELECT 'hh_' || i, {conv_id}, {_customer(conv)}, 'closed', 'transfer_requested', "
            f"'Customer asks for a person', {run_id}, {later(3)}, 'alice', {later(60)}, 'alice', {later(900)}, "
            f"'resolved' FROM n WHERE {conv} % 50 = 3 AND i % {RUNS_PER_CONVERSATION} = {RUNS_PER_CONVERSATION - 1}",
            1,
        ),
        (
            "messages",
            "INSERT INTO messages "  # noqa: S608 - constant fragments, values bound
            "(conversation_id, run_id, role, content, author_id, created_at) "
            f"SELECT {conv_id}, NULL, 'agent', 'A person here: it is sorted.', 'alice', {later(300)} "
            f"FROM n WHERE {conv} % 50 = 3 AND i % {RUNS_PER_CONVERSATION} = {RUNS_PER_CONVERSATION - 1}",
            1,
        ),
        (
            "idempotent_requests",
            "INSERT INTO idempotent_requests "  # noqa: S608 - constant fragments, values bound
            "(customer_id, key, conversation_id, request_hash, response, created_at, "
            f"run_id) SELECT {_customer(conv)}, 'key_' || i, {conv_id}, 'hash_' || i, "
            f"{d.json(RESPONSE)}, {at}, {run_id} "
            "FROM n WHERE i % 5 = 0",
            1,
        ),
        (
            "run_flags",
            "INSERT INTO run_flags "  # noqa: S608 - constant fragments, values bound
            "(run_id, conversation_id, kind, value, created_at) "
            f"SELECT {run_id}, {conv_id}, 'ungrounded_amount', '$1.00', {later(3)} FROM n WHERE i % 20 = 3",
            1,
        ),
        (
            "feedback",
            "INSERT INTO feedback "  # noqa: S608 - constant fragments, values bound
            "(run_id, conversation_id, customer_id, helpful, model_name, route, prompt_version, "
            f"created_at) SELECT {run_id}, {conv_id}, {_customer(conv)}, i % 7 <> 0, 'claude-sonnet-4-6', 'default', "
            f"'v1', {later(30)} FROM n WHERE i % 10 = 1",
            1,
        ),
        (
            "ledger",
            "INSERT INTO ledger "  # noqa: S608 - constant fragments, values bound
            "(idempotency_key, tool, customer_id, order_id, arguments, amount_cents, refund_cents, "
            "result, created_at) "
            f"SELECT 'run:hr_' || i || ':1:0', CASE WHEN i % 2 = 0 THEN 'cancel_pending_order' ELSE "
            f"'return_delivered_order_items' END, {_customer(conv)}, '#W' || (1000000 + i % 8999999), "
            f"{d.json(CANCEL_ARGUMENTS)}, 0, 1000 + i % 5000, {d.json(EMPTY)}, {later(2)} "
            "FROM n WHERE i % 33 = 5",
            1,
        ),
        (
            "spend_days",
            "INSERT INTO spend_days "  # noqa: S608 - constant fragments, values bound
            f"(scope, day, used_micro_usd) SELECT 'customer:' || customer_id, "
            f"{d.day('started_at')}, sum(cost_micro_usd) FROM runs WHERE id LIKE 'hr\\_%' ESCAPE '\\' "
            f"GROUP BY customer_id, {d.day('started_at')} "
            f"UNION ALL SELECT 'store', {d.day('started_at')}, sum(cost_micro_usd) FROM runs "
            f"WHERE id LIKE 'hr\\_%' ESCAPE '\\' GROUP BY {d.day('started_at')}",
            0,
        ),
        (
            "chat_allowances",
            "INSERT INTO chat_allowances (scope, tokens, refilled_at) "
            "SELECT prefix || 'customer:' || customer_id, 1, :start FROM "
            "(SELECT DISTINCT customer_id FROM conversations WHERE id LIKE 'hc\\_%' ESCAPE '\\') customers, "
            "(SELECT '' AS prefix UNION ALL SELECT 'conversations:') prefixes",
            0,
        ),
    ]


def sync_url(url: str) -> str:
    """The service's database URL for SQLAlchemy's synchronous engine (the seed needs no event loop)."""
    parsed = make_url(url)
    driver = "postgresql+psycopg" if parsed.get_backend_name() == "postgresql" else "sqlite"
    return parsed.set(drivername=driver).render_as_string(hide_password=False)


def seeded(url: str) -> bool:
    """Whether the database already holds a seeded history (`seed_history` is all or nothing)."""
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as connection:
            return connection.execute(text("SELECT 1 FROM conversations WHERE id = 'hc_0'")).first() is not None
    finally:
        engine.dispose()


def seed_history(url: str, size: HistorySize, report: Callable[[str], None] = lambda _: None) -> dict[str, int]:
    """Add `size`'s history to a migrated store at `url`, in one transaction, then refresh the planner's
    statistics. Returns the rows added per table."""
    postgres = make_url(url).get_backend_name() == "postgresql"
    dialect = POSTGRES if postgres else SQLITE
    now = utcnow().timestamp()
    start = now - DAYS * 86400
    values = {
        "start": start,
        "every": (DAYS - 1) * 86400 / size.conversations,
        "customers": size.customers,
    }
    added: dict[str, int] = {}
    engine = create_engine(sync_url(url))
    try:
        with engine.begin() as connection:
            _for_bulk_load(connection, postgres)
            for table, insert, per_run in _statements(dialect):
                began = time.perf_counter()
                count = size.conversations if per_run < 0 else size.runs * per_run
                statement = f"WITH RECURSIVE n(i) AS ({dialect.numbers}) {insert}" if per_run else insert
                if postgres and per_run:
                    statement = statement.replace("WITH RECURSIVE", "WITH", 1)
                result = connection.execute(text(statement), {**values, "count": count})
                # SQLite's driver does not count rows of a statement that starts with WITH; SQLite does.
                rows = result.rowcount if postgres else connection.exec_driver_sql("SELECT changes()").scalar_one()
                added[table] = added.get(table, 0) + rows
                report(f"{table:20} {rows:>10,} rows  {time.perf_counter() - began:6.1f} s")
        with engine.connect() as connection:
            began = time.perf_counter()
            connection.execute(text("ANALYZE"))
            connection.commit()
            report(f"{'ANALYZE':20} {'':>10}       {time.perf_counter() - began:6.1f} s")
    finally:
        engine.dispose()
    return added


def _for_bulk_load(connection: Connection, postgres: bool) -> None:
    """The seed is consistent by construction, and all or nothing: skip what only protects row-by-row writers."""
    if postgres:
        connection.execute(text("SET LOCAL synchronous_commit = off"))
        # Foreign keys are checked by a trigger per row; the seed's references hold by construction.
        connection.execute(text("SET LOCAL session_replication_role = replica"))
        connection.execute(text("SET LOCAL work_mem = '256MB'"))
    else:
        connection.exec_driver_sql("PRAGMA synchronous = OFF")
