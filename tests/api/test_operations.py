"""What an operator relies on: the probes (`/livez`, `/readyz`), Prometheus `/metrics` with the pending-approvals
gauge read from the database, `support serve` refusing early (port taken, weak secret) without touching the
database, and seeding as an explicit step outside development."""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, text
from sqlmodel import select

from testkit.confirm import confirm_over_http
from testkit.databases import drop_postgres, postgres_copy, postgres_url
from testkit.server import ROOT, ServerProcess, free_port
from testkit.service import TEST_SECRET, bearer, running_service
from tools.store.tables import Customer

CUSTOMER = "james_li_5688"
AGENT = bearer("agent_alice", role="agent")


async def test_livez_and_readyz_answer_when_all_is_well(database_url: str) -> None:
    async with running_service(database_url) as service:
        live = await service.http.get("/livez")
        ready = await service.http.get("/readyz")
    assert live.status_code == 200 and live.json() == {"status": "ok"}
    assert ready.status_code == 200, ready.text
    assert ready.json()["status"] == "ready"


async def test_readyz_is_503_while_the_schema_is_behind_this_build(database_url: str) -> None:
    async with running_service(database_url) as service:
        async with service.services.database.engine.begin() as connection:
            await connection.execute(text("UPDATE alembic_version SET version_num = '0001'"))
        ready = await service.http.get("/readyz")
        live = await service.http.get("/livez")
    assert ready.status_code == 503
    assert ready.json()["error"]["code"] == "schema_not_current"
    assert live.status_code == 200  # alive: restarting it would not help


@pytest.fixture
def own_postgres(postgres_template: str) -> Iterator[str]:
    name = postgres_copy(postgres_template)
    yield name
    drop_postgres(name)


async def test_readyz_is_503_when_the_database_is_down(own_postgres: str) -> None:
    async with running_service(postgres_url(own_postgres)) as service:
        assert (await service.http.get("/readyz")).status_code == 200
        drop_postgres(own_postgres)  # the database goes away under the running service
        ready = await service.http.get("/readyz")
        live = await service.http.get("/livez")
    assert ready.status_code == 503
    assert ready.json() == {"error": {"code": "database_unreachable", "message": "the database cannot be reached"}}
    assert live.status_code == 200


async def test_metrics_are_404_unless_switched_on(sqlite_url: str) -> None:
    async with running_service(sqlite_url) as service:
        answer = await service.http.get("/metrics")
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "metrics_off"


def scrape(server: ServerProcess) -> dict[str, float]:
    answer = httpx.get(f"{server.url}/metrics", timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    values: dict[str, float] = {}
    for line in answer.text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = values.get(name, 0.0) + float(value)
    return values


def total(values: dict[str, float], metric: str) -> float:
    return sum(v for k, v in values.items() if re.match(rf"{metric}(\{{|$)", k))


def hold_a_refund(server: ServerProcess) -> str:
    with httpx.Client(base_url=server.url, headers=bearer(CUSTOMER), timeout=30) as client:
        conversation = client.post("/v1/conversations").json()["id"]
        message = {"content": "Refund me $150 on #W2611340 please"}
        asked = client.post(f"/v1/conversations/{conversation}/messages", json=message).json()["run"]
        run = confirm_over_http(server.url, CUSTOMER, conversation, asked)
    assert run["status"] == "awaiting_approval", run
    return str(run["pending_action"]["approval_id"])


@pytest.mark.slow
def test_metrics_for_prometheus_and_a_pending_gauge_that_survives_a_restart(sqlite_url: str, tmp_path: Path) -> None:
    first = ServerProcess(sqlite_url, tmp_path / "first.log", SUPPORT_METRICS="true")
    try:
        first.start()
        approval = hold_a_refund(first)
        scraped = scrape(first)
    finally:
        first.stop()
    assert total(scraped, "support_approvals_pending") == 1
    assert total(scraped, "support_tool_calls_total") >= 2
    assert total(scraped, "gen_ai_client_operation_duration_seconds_count") >= 2
    assert total(scraped, "gen_ai_client_token_usage_count") >= 2

    second = ServerProcess(sqlite_url, tmp_path / "second.log", SUPPORT_METRICS="true")
    try:
        second.start()
        # a fresh process that has opened no approval itself still reports the stored one
        assert total(scrape(second), "support_approvals_pending") == 1
        decided = httpx.post(f"{second.url}/v1/approvals/{approval}/approve", json={}, headers=AGENT, timeout=30)
        assert decided.status_code == 200, decided.text
        assert total(scrape(second), "support_approvals_pending") == 0
    finally:
        second.stop()


def serve(database: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "DATABASE_URL": f"sqlite:///{database}", "SUPPORT_JWT_SECRET": TEST_SECRET, **env}
    return subprocess.run(
        [sys.executable, "-m", "cli.main", "serve", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("given", ["--port", "PORT"])
def test_a_taken_port_is_reported_before_the_database_is_touched(tmp_path: Path, given: str) -> None:
    database = tmp_path / "fresh.sqlite3"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        finished = serve(database, "--port", port) if given == "--port" else serve(database, PORT=port)
    assert finished.returncode != 0
    assert f"cannot listen on 127.0.0.1:{port}" in finished.stderr
    assert "--port" in finished.stderr
    assert "Traceback" not in finished.stderr
    assert not database.exists()  # nothing migrated, nothing seeded


def test_a_port_that_is_not_a_number_is_one_line(tmp_path: Path) -> None:
    database = tmp_path / "fresh.sqlite3"
    finished = serve(database, PORT="eighty")
    assert finished.returncode == 2
    assert "invalid int value: 'eighty'" in finished.stderr
    assert "Traceback" not in finished.stderr
    assert not database.exists()


def test_a_weak_secret_in_production_is_one_line_and_touches_nothing(tmp_path: Path) -> None:
    database = tmp_path / "fresh.sqlite3"
    finished = serve(database, "--port", str(free_port()), SUPPORT_ENV="production", SUPPORT_JWT_SECRET="change-me")
    assert finished.returncode != 0
    assert "refusing to start in production" in finished.stderr
    assert "Traceback" not in finished.stderr
    assert not database.exists()


async def count_customers(service_database: object) -> int:
    from basics.database import Database

    assert isinstance(service_database, Database)
    async with service_database.session() as session:
        return int((await session.exec(select(func.count()).select_from(Customer))).one())


async def test_outside_development_the_store_is_seeded_only_on_request(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    async with running_service(url, SUPPORT_ENV="production") as service:
        assert await count_customers(service.services.database) == 0
    seeding = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cli.main",
        "seed",
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": url},
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await asyncio.wait_for(seeding.communicate(), timeout=120)
    assert seeding.returncode == 0
    assert b"store ready" in out
    async with running_service(url, SUPPORT_ENV="production") as service:
        assert await count_customers(service.services.database) > 0
    async with running_service(f"sqlite:///{tmp_path / 'dev.sqlite3'}") as service:  # development seeds itself
        assert await count_customers(service.services.database) > 0


@pytest.mark.slow
def test_several_workers_on_postgresql_serve_and_log_json(own_postgres: str, tmp_path: Path) -> None:
    log = tmp_path / "workers.log"
    server = ServerProcess(postgres_url(own_postgres), log, SUPPORT_WORKERS="2")
    try:
        server.start(timeout_s=120)
        created = [httpx.post(f"{server.url}/v1/conversations", headers=bearer(CUSTOMER), timeout=30) for _ in range(6)]
        assert [answer.status_code for answer in created] == [201] * 6
    finally:
        server.stop()
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    workers = {line["message"] for line in lines if line["message"].startswith("Started server process")}
    assert len(workers) == 2
    assert sum(line["logger"] == "support.access" for line in lines) == 6
