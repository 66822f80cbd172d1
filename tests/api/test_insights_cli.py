"""`support insights` against the service running as a process, on a store with the hand-counted history of
`testkit.store_figures`: the table a person reads, the JSON a script reads, and a range refused early."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from basics.database import Database
from testkit.server import ServerProcess
from testkit.server import support_against as support
from testkit.store_figures import seed_history


def last_half_past_two() -> datetime:
    now = datetime.now(UTC)
    moment = now.replace(hour=14, minute=30, second=0, microsecond=0)
    return moment if moment <= now else moment - timedelta(days=1)


@pytest.fixture
def server(sqlite_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
    async def seed() -> None:
        database = Database(sqlite_url)
        try:
            await seed_history(database, last_half_past_two(), running=False)
        finally:
            await database.dispose()

    asyncio.run(seed())
    process = ServerProcess(sqlite_url, tmp_path / "server.log").start()
    try:
        yield process
    finally:
        process.stop()


def test_insights_in_the_terminal(server: ServerProcess) -> None:
    shown = support(server, "insights", "--days", "3", "--hours", "2")
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0].startswith("Insights at ")
    header = next(line for line in lines if line.startswith("Day (last 3)"))
    assert header.split()[-2:] == ["Oldest", "approval"] and "Resolved" in header and "p95 time" in header
    day = f"{last_half_past_two():%a %d %b}"
    row = next(line for line in lines if line.startswith(day))
    # the history's "today" without D: A, B, C; A alone resolved, B handed off, 1 of 2 rated helpful, 2 of 4 runs
    # flagged, 1 of 4 on a fallback model, $0.035 over 3, answered in 1, 2, 4 and 10 s
    expected = "3 33 % 33 % 50 % 50 % 25 % $0.012 2.0 s 10.0 s"
    assert row.split()[3:-4] == expected.split(), shown.stdout
    # X, opened at 12:00, waited 12 h by the day's end; while that day is still going on, as long as it has so far
    hours, _, minutes, _ = row.split()[-4:]
    waited = timedelta(hours=int(hours), minutes=int(minutes))
    asked_at = datetime.strptime(" ".join(lines[0].split()[2:4]), "%Y-%m-%d %H:%M").replace(tzinfo=UTC)
    opened = last_half_past_two().replace(hour=12, minute=0)
    expected_wait = min(asked_at, opened.replace(hour=0) + timedelta(days=1)) - opened
    assert abs(waited - expected_wait) <= timedelta(minutes=1), shown.stdout
    assert any(line.startswith("Hour (last 2)") for line in lines)
    assert (
        "  Get order details" in shown.stdout
        and "  States an amount no order, message or help article showed" in shown.stdout
    )

    as_json = support(server, "insights", "--json", "--days", "2")
    assert as_json.returncode == 0, as_json.stderr
    body = json.loads(as_json.stdout)
    assert len(body["days"]) == 2 and len(body["hours"]) == 24
    # a1's two, and e1's one when the two days are the history's "today" and the day before it (the history is laid
    # out around the last 14:30, so before 14:30 its "today" is yesterday, and e1 falls out of the range)
    e1_in_range = last_half_past_two().date() == datetime.fromisoformat(body["generated_at"]).date()
    assert body["top_tools"][0] == {"name": "get_order_details", "count": 3 if e1_in_range else 2}


def test_a_range_out_of_bounds_is_refused_before_asking(server: ServerProcess) -> None:
    refused = support(server, "insights", "--days", "400")
    assert refused.returncode == 2 and "--days: must be 1 to 90, not 400" in refused.stderr
