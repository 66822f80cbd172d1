"""The money tier's sum holds under a burst: twenty $25 goodwill refunds on one order, asked and confirmed at once,
alternating between two server processes on one PostgreSQL database, are one automatic refund and nineteen held
for an agent: each confirmation counts what ran before it under the customer's lock row."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from testkit.fakes import anthropic_api as fake
from testkit.server import ServerProcess
from tests.api.test_bursts import burst, follow_instructions, scalar, two_servers

pytestmark = pytest.mark.slow

CUSTOMER, ORDER = "james_li_5688", "#W2611340"


@pytest.fixture
def model_api() -> Iterator[fake.FakeMessagesAPI]:
    with fake.FakeMessagesAPI() as api:
        api.add(*[follow_instructions] * 200)
        yield api


async def test_twenty_simultaneous_refunds_of_25_on_one_order_run_one_automatically(
    postgresql_url: str, tmp_path: Path, model_api: fake.FakeMessagesAPI, servers: list[ServerProcess]
) -> None:
    servers.extend(s.start() for s in two_servers(postgresql_url, tmp_path, model_api))
    turns = [
        (CUSTOMER, "DO issue_refund " + json.dumps({"order_id": ORDER, "amount": 25, "reason": f"late {n}"}))
        for n in range(20)
    ]
    answers = await burst(servers, turns)
    assert [a.status_code for a in answers] == [200] * 20
    statuses = sorted(a.json()["run"]["status"] for a in answers)
    assert statuses == ["awaiting_approval"] * 19 + ["completed"]
    assert scalar(postgresql_url, "SELECT sum(refund_cents) FROM ledger WHERE order_id = :o", o=ORDER) == 2_500
    held = scalar(
        postgresql_url,
        "SELECT count(*) FROM approvals WHERE kind = 'approval' AND status = 'pending' "
        "AND rule = 'money.issue_refund.agent_tier' AND approver_role = 'agent'",
    )
    assert held == 19
    sums = scalar(
        postgresql_url,
        "SELECT array_agg(DISTINCT tier_sum_cents) FROM policy_decisions "
        "WHERE rule = 'money.issue_refund.agent_tier' AND principal_role = 'customer'",
    )
    assert sums == [5_000]  # every held one saw the $25 that ran, plus its own
