"""Approvals across real processes: a server killed with -9 while an action is held, and two replicas
sharing one PostgreSQL database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from testkit import fixture_data as data
from testkit.confirm import confirm_over_http
from testkit.databases import drop_postgres, postgres_copy, postgres_url
from testkit.server import ServerProcess
from testkit.service import bearer

pytestmark = pytest.mark.slow

AGENT = bearer("agent_alice", role="agent")


def paid(order: data.Order) -> float:
    return sum(t["amount"] for t in order["payment_history"] if t["transaction_type"] == "payment")


ORDER = data.first_order(lambda o: o["status"] == "pending" and 100 < paid(o) <= 1000)
CUSTOMER = str(ORDER["user_id"])


def hold_cancellation(server: ServerProcess) -> tuple[str, str]:
    with httpx.Client(base_url=server.url, headers=bearer(CUSTOMER), timeout=30) as client:
        conversation = client.post("/v1/conversations").json()["id"]
        text = f"Please cancel {ORDER['order_id']}, I no longer need it"
        asked = client.post(f"/v1/conversations/{conversation}/messages", json={"content": text}).json()["run"]
        run = confirm_over_http(server.url, CUSTOMER, conversation, asked)
    assert run["status"] == "awaiting_approval", run
    return conversation, run["pending_action"]["approval_id"]


def approve(server: ServerProcess, approval_id: str) -> dict[str, Any]:
    answer = httpx.post(
        f"{server.url}/v1/approvals/{approval_id}/approve", json={"note": "ok"}, headers=AGENT, timeout=30
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def conversation_replies(server: ServerProcess, conversation: str) -> list[str]:
    read = httpx.get(f"{server.url}/v1/conversations/{conversation}", headers=AGENT, timeout=30).json()
    return [m["content"] for m in read["messages"] if m["role"] == "assistant"]


def test_an_approval_survives_kill_9_and_runs_once_after_restart(
    database_url: str, tmp_path: Path, servers: list[ServerProcess]
) -> None:
    first = ServerProcess(database_url, tmp_path / "server.log")
    servers.append(first.start())
    conversation, approval_id = hold_cancellation(first)
    first.kill()

    second = ServerProcess(database_url, tmp_path / "server.log")
    servers.append(second.start())
    body = approve(second, approval_id)
    assert body["approval"]["status"] == "executed"
    assert body["run"]["status"] == "completed" and "approved" in body["run"]["reply"]
    assert conversation_replies(second, conversation)[-1] == body["run"]["reply"]
    again = httpx.post(f"{second.url}/v1/approvals/{approval_id}/approve", json={}, headers=AGENT, timeout=30)
    assert again.status_code == 409


def test_two_replicas_share_the_work_on_postgresql(
    postgres_template: str, tmp_path: Path, servers: list[ServerProcess], request: pytest.FixtureRequest
) -> None:
    name = postgres_copy(postgres_template)
    request.addfinalizer(lambda: drop_postgres(name))
    url = postgres_url(name)
    paused_here = ServerProcess(url, tmp_path / "a.log")
    approved_there = ServerProcess(url, tmp_path / "b.log")
    servers.extend([paused_here.start(), approved_there.start()])
    conversation, approval_id = hold_cancellation(paused_here)
    body = approve(approved_there, approval_id)
    assert body["approval"]["status"] == "executed"
    assert conversation_replies(paused_here, conversation)[-1] == body["run"]["reply"]
    with psycopg.connect(url) as connection:
        [(count,)] = connection.execute("SELECT count(*) FROM ledger").fetchall()
        [(status,)] = connection.execute(
            "SELECT status FROM orders WHERE order_id = %s", [ORDER["order_id"]]
        ).fetchall()
    assert (count, status) == (1, "cancelled")
