"""`support_approvals_oldest_age_seconds`, the gauge the waiting-approval alert reads: how long the oldest approval
still waiting has waited, read from the database (so right after a restart and on every replica), 0 when none
waits. Approvals decided long ago do not count."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from basics.database import Database
from testkit import databases
from testkit.store_figures import seed_history
from tests.ops.exported import scrape


def gauge(exposition: str) -> float:
    found = re.search(r"^support_approvals_oldest_age_seconds\{[^}]*\} (\S+)$", exposition, re.M)
    assert found, "the gauge is exported"
    return float(found.group(1))


def test_no_waiting_approval_reads_zero(exposition: str) -> None:
    assert gauge(exposition) == 0


async def test_the_oldest_waiting_approval_is_read_from_the_database(sqlite_template: Path, tmp_path: Path) -> None:
    url = databases.sqlite_copy(sqlite_template, tmp_path)
    now = datetime.now(UTC)
    moment = now.replace(hour=14, minute=30, second=0, microsecond=0)
    moment = moment if moment <= now else moment - timedelta(days=1)
    database = Database(url)
    try:
        await seed_history(database, moment, running=False)  # X waits since 12:00 that day; Y was decided
    finally:
        await database.dispose()
    opened = moment.replace(hour=12, minute=0)
    before = (datetime.now(UTC) - opened).total_seconds()
    read = gauge(scrape(url))  # a service process that never saw X opened
    after = (datetime.now(UTC) - opened).total_seconds()
    assert before <= read <= after
