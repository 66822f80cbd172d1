"""Twenty Confirms of one write at once, split across two server processes on one database: the write runs once,
one answer is 200 and the other nineteen are 409. On PostgreSQL and on SQLite; the offline model proposes it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from testkit.server import ServerProcess
from testkit.service import bearer
from tests.api.test_bursts import scalar

pytestmark = pytest.mark.slow

ORDER = "#W6247578"  # pending, $53.27: runs without a person once the customer confirms
OWNER = "yusuf_rossi_9620"


async def test_twenty_confirms_across_two_processes_run_the_write_once(
    database_url: str, tmp_path: Path, servers: list[ServerProcess]
) -> None:
    first = ServerProcess(database_url, tmp_path / "first.log").start()
    servers.append(first)
    second = ServerProcess(database_url, tmp_path / "second.log").start()
    servers.append(second)
    customer = bearer(OWNER)
    async with httpx.AsyncClient(headers=customer, timeout=120) as client:
        conversation = (await client.post(f"{first.url}/v1/conversations")).json()["id"]
        asked = await client.post(
            f"{first.url}/v1/conversations/{conversation}/messages",
            json={"content": f"Please cancel {ORDER}, I no longer need it"},
        )
        run = asked.json()["run"]
        assert run["status"] == "awaiting_confirmation", run
        path = f"/v1/conversations/{conversation}/confirmations/{run['pending_confirmation']['id']}"
        answers = await asyncio.gather(
            *(client.post(f"{(first, second)[i % 2].url}{path}", json={"decision": "confirm"}) for i in range(20))
        )
    assert sorted(a.status_code for a in answers) == [200] + [409] * 19, [a.text for a in answers]
    [won] = [a.json() for a in answers if a.status_code == 200]
    assert won["confirmation"]["status"] == "executed"
    assert won["run"]["status"] == "completed"
    assert {a.json()["error"]["code"] for a in answers if a.status_code == 409} == {"confirmation_not_pending"}
    assert scalar(database_url, "SELECT count(*) FROM ledger WHERE order_id = :o", o=ORDER) == 1
    assert scalar(database_url, "SELECT status FROM orders WHERE order_id = :o", o=ORDER) == "cancelled"
