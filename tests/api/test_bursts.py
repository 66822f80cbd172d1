"""Limits that count hold when requests arrive together: two server processes on one database, many customers'
turns fired at once, on PostgreSQL and on SQLite.

"The model" is the fake Messages API behind the real SDK. Each customer message is an instruction it follows
(`DO <tool> <json arguments>`): it proposes exactly that tool call, then answers "Done." once it sees the
result (or the service's notice of the customer's confirmation). So every turn carries one proposed write, the
customer confirms it at once, and what the limits let through is what we count.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from testkit import fixture_data as data
from testkit.fakes import anthropic_api as fake
from testkit.server import ServerProcess
from testkit.service import bearer

pytestmark = pytest.mark.slow

PRICE_PER_TURN = fake.TokenUsage(input_tokens=1_000, output_tokens=200)
GREETING_PRICE = fake.TokenUsage(input_tokens=10_000, output_tokens=1_500)
"""About five cents at Claude Sonnet's prices: a few greetings use up a ten-cent budget."""


def follow_instructions(body: dict[str, Any]) -> fake.Answer:
    """Propose the tool call the customer's message spells out; answer in words after its result."""
    last = body["messages"][-1]
    blocks = last["content"] if isinstance(last["content"], list) else [{"type": "text", "text": last["content"]}]
    if any(b.get("type") == "tool_result" for b in blocks) or "[service notice" in str(blocks):
        return fake.say("Done.", usage=PRICE_PER_TURN)
    words = " ".join(b.get("text", "") for b in blocks)
    found = re.match(r"DO (\w+) (\{.*\})", words)
    if found is None:
        return fake.say("Hello.", usage=GREETING_PRICE)
    return fake.Reply(
        content=(fake.ToolUse(found.group(1), json.loads(found.group(2))),),
        stop_reason="tool_use",
        usage=PRICE_PER_TURN,
    )


@pytest.fixture
def model_api() -> Iterator[fake.FakeMessagesAPI]:
    with fake.FakeMessagesAPI() as api:
        api.add(*[follow_instructions] * 2_000)
        yield api


def policy_file(tmp_path: Path, *, texts: dict[str, str] | None = None, **replacements: str) -> Path:
    """The store's policy file with the lines `key = ...` given new values, and any `texts` replaced as written."""
    policy = (Path(__file__).resolve().parents[2] / "policies" / "retail.toml").read_text()
    for old, new in (texts or {}).items():
        assert old in policy, old
        policy = policy.replace(old, new)
    for line, value in replacements.items():
        policy, count = re.subn(rf"^{line} = .*$", f"{line} = {value}", policy, flags=re.MULTILINE)
        assert count == 1, line
    path = tmp_path / "policy.toml"
    path.write_text(policy)
    return path


def two_servers(database_url: str, tmp_path: Path, api: fake.FakeMessagesAPI, **env: str) -> list[ServerProcess]:
    settings = {
        "SUPPORT_MODEL": "anthropic:claude-sonnet-4-6",
        "ANTHROPIC_API_KEY": "test-key",
        "ANTHROPIC_BASE_URL": api.base_url,
        "SUPPORT_SPEND_RESERVATION_USD": "0.01",
        "SUPPORT_CONVERSATIONS_PER_HOUR": "0",  # each turn here is a new conversation: the limits under test are others
        **env,
    }
    return [ServerProcess(database_url, tmp_path / f"server-{n}.log", **settings) for n in (1, 2)]


async def burst(servers: list[ServerProcess], turns: list[tuple[str, str]]) -> list[httpx.Response]:
    """Each (customer, message) in its own new conversation, all sent at once, alternating between servers. A
    write the service asks the customer to confirm is confirmed at once, on the other server, as a customer
    tapping Confirm would: the write then runs in the confirmation, so that is where the limits are decided,
    and its response (the run that reports it) is what the test sees."""
    async with httpx.AsyncClient(timeout=60) as client:

        async def one(index: int, customer: str, message: str) -> httpx.Response:
            base = servers[index % len(servers)].url
            created = await client.post(f"{base}/v1/conversations", headers=bearer(customer))
            conversation = created.json()["id"]
            sent = await client.post(
                f"{base}/v1/conversations/{conversation}/messages",
                json={"content": message},
                headers=bearer(customer),
            )
            run = sent.json().get("run") if sent.status_code == 200 else None
            if not run or run["status"] != "awaiting_confirmation":
                return sent
            other = servers[(index + 1) % len(servers)].url
            return await client.post(
                f"{other}/v1/conversations/{conversation}/confirmations/{run['pending_confirmation']['id']}",
                json={"decision": "confirm"},
                headers=bearer(customer),
            )

        return await asyncio.gather(*(one(i, c, m) for i, (c, m) in enumerate(turns)))


def scalar(database_url: str, query: str, **params: Any) -> Any:
    engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as connection:
            return connection.execute(text(query), params).scalar()
    finally:
        engine.dispose()


def customers_with_orders(count: int, predicate: Any) -> list[tuple[str, str]]:
    """`count` different customers, each with one order matching `predicate`."""
    found: dict[str, str] = {}
    for order in data.store()["orders"].values():
        if predicate(order) and order["user_id"] not in found:
            found[order["user_id"]] = order["order_id"]
        if len(found) == count:
            break
    return list(found.items())


def delivered_with_room(order: dict[str, Any]) -> bool:
    paid = sum(t["amount"] for t in order["payment_history"] if t["transaction_type"] == "payment")
    return bool(order["status"] == "delivered" and paid >= 50)


async def test_twenty_simultaneous_writes_stop_at_the_hourly_limit(
    database_url: str, tmp_path: Path, model_api: fake.FakeMessagesAPI, servers: list[ServerProcess]
) -> None:
    servers.extend(s.start() for s in two_servers(database_url, tmp_path, model_api))
    customer = "james_li_5688"
    turns = [
        (
            customer,
            "DO modify_customer_address "
            + json.dumps(
                {
                    "address1": f"{n} Main St",
                    "address2": "",
                    "city": "Austin",
                    "state": "TX",
                    "country": "USA",
                    "zip": "78701",
                }
            ),
        )
        for n in range(20)
    ]
    answers = await burst(servers, turns)
    assert [a.status_code for a in answers] == [200] * 20
    assert {a.json()["run"]["status"] for a in answers} == {"completed"}
    ran = scalar(database_url, "SELECT count(*) FROM ledger WHERE customer_id = :c", c=customer)
    refused = scalar(
        database_url,
        "SELECT count(*) FROM policy_decisions WHERE principal_id = :c AND rule = 'rate.customer_writes_per_hour'",
        c=customer,
    )
    assert (ran, refused) == (10, 10)


async def test_simultaneous_refunds_never_pass_the_customer_cap_or_the_store_budget(
    database_url: str, tmp_path: Path, model_api: fake.FakeMessagesAPI, servers: list[ServerProcess]
) -> None:
    # A customer may get $30 of refunds in 30 days, the store $40 a day; each refund here is $5. The goodwill
    # refunds' own tiers are lifted out of the way: the limits under test are the two that count every refund.
    lifted = {'auto = "25.00"': 'auto = "100.00"', 'customer_auto = "50.00"': 'customer_auto = "100.00"'}
    policy = policy_file(tmp_path, texts=lifted, customer_refund_limit='"30.00"', store_daily_refund_budget='"40.00"')
    servers.extend(s.start() for s in two_servers(database_url, tmp_path, model_api, SUPPORT_POLICY_FILE=str(policy)))
    [(customer, order_id)] = customers_with_orders(1, delivered_with_room)
    refund = {"order_id": order_id, "amount": 5, "reason": "late delivery"}
    answers = await burst(servers, [(customer, f"DO issue_refund {json.dumps(refund)}")] * 8)
    assert [a.status_code for a in answers] == [200] * 8
    statuses = sorted(a.json()["run"]["status"] for a in answers)
    assert statuses == ["awaiting_approval"] * 2 + ["completed"] * 6
    assert scalar(database_url, "SELECT sum(refund_cents) FROM ledger") == 3_000

    # Eight other customers, $5 each, at once: the store has $10 left today, so exactly two refunds run.
    others = customers_with_orders(9, delivered_with_room)[1:]
    answers = await burst(
        servers,
        [(c, "DO issue_refund " + json.dumps({"order_id": o, "amount": 5, "reason": "late"})) for c, o in others],
    )
    assert [a.status_code for a in answers] == [200] * 8
    assert sorted(a.json()["run"]["status"] for a in answers) == ["awaiting_approval"] * 6 + ["completed"] * 2
    assert scalar(database_url, "SELECT sum(refund_cents) FROM ledger") == 4_000
    held = scalar(
        database_url,
        "SELECT count(*) FROM approvals WHERE rule = 'cumulative.store_daily_refunds' AND status = 'pending'",
    )
    assert held == 6


async def test_forty_simultaneous_messages_get_exactly_the_per_minute_limit(
    database_url: str, tmp_path: Path, model_api: fake.FakeMessagesAPI, servers: list[ServerProcess]
) -> None:
    servers.extend(s.start() for s in two_servers(database_url, tmp_path, model_api, SUPPORT_CHAT_PER_MINUTE="20"))
    answers = await burst(servers, [("james_li_5688", "hello")] * 40)
    codes = sorted(a.status_code for a in answers)
    assert codes == [200] * 20 + [429] * 20
    assert all(int(a.headers["Retry-After"]) >= 1 for a in answers if a.status_code == 429)
    stored = scalar(database_url, "SELECT count(*) FROM messages WHERE role = 'customer'")
    assert stored == 20
    # The refused twenty hold nothing: no conversation is left claimed, and the day's spend is what the twenty runs
    # cost, without a reservation of a refused message in it.
    assert scalar(database_url, "SELECT count(*) FROM conversations WHERE active_run_id IS NOT NULL") == 0
    spent = scalar(database_url, "SELECT sum(used_micro_usd) FROM spend_days WHERE scope = 'customer:james_li_5688'")
    assert spent == scalar(database_url, "SELECT sum(cost_micro_usd) FROM runs")


async def test_simultaneous_turns_spend_past_the_daily_budget_by_at_most_one_reservation(
    database_url: str, tmp_path: Path, model_api: fake.FakeMessagesAPI, servers: list[ServerProcess]
) -> None:
    budget, reservation = 0.10, 0.06
    servers.extend(
        s.start()
        for s in two_servers(
            database_url,
            tmp_path,
            model_api,
            SUPPORT_CUSTOMER_DAILY_COST_USD=str(budget),
            SUPPORT_SPEND_RESERVATION_USD=str(reservation),
            SUPPORT_MAX_RUN_COST_USD=str(reservation),
            SUPPORT_CHAT_PER_MINUTE="100",
        )
    )
    answers = await burst(servers, [("james_li_5688", "hello")] * 40)
    assert [a.status_code for a in answers] == [200] * 40
    runs = [a.json()["run"] for a in answers]
    spent = sum(r["usage"]["cost_usd"] for r in runs)
    assert spent > 0
    assert spent <= budget + reservation
    refused = [r for r in runs if r["status"] == "budget_exhausted"]
    assert refused and all(r["budget_exhausted"] == "customer_daily_cost" for r in refused)
    assert all(r["usage"]["model_calls"] == 0 for r in refused)
