"""A server killed with -9 in the middle of answering: after a restart the customer gets the answer, a retry with
the same Idempotency-Key gets it too, the conversation takes new messages at once, and an approved action is
not run a second time.

"The model" is the fake Messages API behind the real SDK; its first answer to the message being processed when
the server dies is held back, so the kill lands while the run is waiting on the model.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from testkit import fixture_data as data
from testkit.fakes import anthropic_api as fake
from testkit.server import ServerProcess
from testkit.service import bearer
from tests.api.test_bursts import scalar

pytestmark = pytest.mark.slow

CUSTOMER = "james_li_5688"
AGENT = bearer("agent_alice", role="agent")


def last_text(body: dict[str, Any]) -> str:
    content = body["messages"][-1]["content"]
    blocks = content if isinstance(content, list) else [{"type": "text", "text": content}]
    if any(b.get("type") == "tool_result" for b in blocks):
        return "<tool_result>"
    return " ".join(b.get("text", "") for b in blocks)


class SlowOnce:
    """Answers like a model; the first request whose last message contains `slow_on` is held for a minute
    (long enough to kill the server while it waits), later ones are answered at once."""

    def __init__(self, slow_on: str, answer: str) -> None:
        self.slow_on = slow_on
        self.answer = answer
        self.held = threading.Event()
        self._lock = threading.Lock()

    def __call__(self, body: dict[str, Any]) -> fake.Answer:
        words = last_text(body)
        if self.slow_on in words:
            with self._lock:
                first = not self.held.is_set()
                self.held.set()
            return fake.say(self.answer, delay_s=60 if first else 0)
        if words == "<tool_result>":
            return fake.say("A team member will review the cancellation.")
        found = words.split(" ", 2)
        if found[0] == "DO":
            return fake.Reply(content=(fake.ToolUse(found[1], json.loads(found[2])),), stop_reason="tool_use")
        return fake.say("Anything else?")


def server(database_url: str, log: Path, api: fake.FakeMessagesAPI) -> ServerProcess:
    return ServerProcess(
        database_url,
        log,
        SUPPORT_MODEL="anthropic:claude-sonnet-4-6",
        ANTHROPIC_API_KEY="test-key",
        ANTHROPIC_BASE_URL=api.base_url,
        SUPPORT_MODEL_TIMEOUT_S="120",
    )


def in_background(work: Any) -> threading.Thread:
    def swallow() -> None:
        with contextlib.suppress(httpx.TransportError):  # the server it talks to is killed under it
            work()

    thread = threading.Thread(target=swallow, daemon=True)
    thread.start()
    return thread


def until(condition: Any, timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if found := condition():
            return found
        time.sleep(0.1)  # polling another process; bounded by the deadline
    raise AssertionError(f"not within {timeout_s} s: {what}")


def confirm(srv: ServerProcess, customer: dict[str, str], conversation: str, run: dict[str, Any]) -> httpx.Response:
    """The customer's Confirm on the write `run` waits for, as the widget sends it."""
    assert run["status"] == "awaiting_confirmation", run
    return httpx.post(
        f"{srv.url}/v1/conversations/{conversation}/confirmations/{run['pending_confirmation']['id']}",
        json={"decision": "confirm"},
        headers=customer,
        timeout=120,
    )


def paid(order: data.Order) -> float:
    return float(sum(t["amount"] for t in order["payment_history"] if t["transaction_type"] == "payment"))


def cancellation_asked(srv: ServerProcess, order: data.Order) -> tuple[dict[str, str], str, dict[str, Any]]:
    """The order's customer asks the model (`DO ...`) to cancel it; the run waits for their confirmation."""
    customer = bearer(str(order["user_id"]))
    conversation = httpx.post(f"{srv.url}/v1/conversations", headers=customer).json()["id"]
    instruction = "DO cancel_pending_order " + json.dumps({"order_id": order["order_id"], "reason": "no longer needed"})
    asked: dict[str, Any] = httpx.post(
        f"{srv.url}/v1/conversations/{conversation}/messages",
        json={"content": instruction},
        headers=customer,
        timeout=60,
    ).json()["run"]
    return customer, conversation, asked


def restarted_and_answered(
    database_url: str, tmp_path: Path, api: fake.FakeMessagesAPI, servers: list[ServerProcess], conversation: str
) -> ServerProcess:
    """Start a server in place of a killed one and wait until the cancellation's outcome reaches the customer."""
    second = server(database_url, tmp_path / "second.log", api)
    servers.append(second.start())
    until(
        lambda: assistant_replies(second, conversation)[-1].startswith("Your order is cancelled"),
        10,
        "the outcome to reach the customer",
    )
    return second


def assistant_replies(srv: ServerProcess, conversation: str) -> list[str]:
    read = httpx.get(f"{srv.url}/v1/conversations/{conversation}", headers=AGENT, timeout=30).json()
    return [m["content"] for m in read["messages"] if m["role"] == "assistant"]


def test_a_run_killed_mid_answer_is_answered_after_restart_and_its_key_replays(
    database_url: str, tmp_path: Path, servers: list[ServerProcess]
) -> None:
    model = SlowOnce("Where is my order", "Order #W2611340 has shipped.")
    with fake.FakeMessagesAPI() as api:
        api.add(*[model] * 50)
        first = server(database_url, tmp_path / "first.log", api)
        servers.append(first.start())
        client = httpx.Client(headers=bearer(CUSTOMER), timeout=120)
        conversation = client.post(f"{first.url}/v1/conversations").json()["id"]
        message = {"content": "Where is my order #W2611340?"}
        key = {"Idempotency-Key": "widget-retry-1"}
        path = f"/v1/conversations/{conversation}/messages"
        in_background(lambda: client.post(f"{first.url}{path}", json=message, headers=key))
        until(model.held.is_set, 60, "the model call to start")
        first.kill()

        second = server(database_url, tmp_path / "second.log", api)
        servers.append(second.start())
        restarted = time.monotonic()
        # The message the dead process was answering is answered by the restarted one, once.
        until(lambda: assistant_replies(second, conversation), 10, "the interrupted message to be answered")
        assert assistant_replies(second, conversation) == ["Order #W2611340 has shipped."]
        # The widget's retry with the same key gets that answer.
        retried = until(
            lambda: (r := client.post(f"{second.url}{path}", json=message, headers=key)).status_code != 409 and r,
            10,
            "the retry to be answered",
        )
        assert retried.status_code == 200, retried.text
        assert retried.json()["run"]["reply"] == "Order #W2611340 has shipped."
        # And the conversation takes the next message within a few seconds of the restart.
        following = client.post(f"{second.url}{path}", json={"content": "thanks"})
        assert following.status_code == 200, following.text
        assert time.monotonic() - restarted < 10
        read = client.get(f"{second.url}/v1/conversations/{conversation}").json()
        customer_messages = [m["content"] for m in read["messages"] if m["role"] == "customer"]
        assert customer_messages == [message["content"], "thanks"]


def test_a_resumed_run_killed_after_approval_answers_the_customer_after_restart_and_runs_once(
    database_url: str, tmp_path: Path, servers: list[ServerProcess]
) -> None:
    order = data.first_order(lambda o: o["status"] == "pending" and 100 < paid(o) <= 1000)
    model = SlowOnce("[service notice", "Your order is cancelled and the refund is on its way.")
    with fake.FakeMessagesAPI() as api:
        api.add(*[model] * 50)
        first = server(database_url, tmp_path / "first.log", api)
        servers.append(first.start())
        customer, conversation, asked = cancellation_asked(first, order)
        held = confirm(first, customer, conversation, asked).json()["run"]
        assert held["status"] == "awaiting_approval", held
        approval_id = held["pending_action"]["approval_id"]
        in_background(
            lambda: httpx.post(
                f"{first.url}/v1/approvals/{approval_id}/approve", json={"note": "ok"}, headers=AGENT, timeout=120
            )
        )
        until(model.held.is_set, 60, "the resumed run to call the model")
        first.kill()

        restarted_and_answered(database_url, tmp_path, api, servers, conversation)
    ran = scalar(database_url, "SELECT count(*) FROM ledger WHERE order_id = :o", o=order["order_id"])
    status = scalar(database_url, "SELECT status FROM approvals WHERE id = :a", a=approval_id)
    assert (ran, status) == (1, "executed")


def test_a_run_killed_after_the_customer_confirms_answers_after_restart_and_runs_once(
    database_url: str, tmp_path: Path, servers: list[ServerProcess]
) -> None:
    order = data.first_order(lambda o: o["status"] == "pending" and paid(o) <= 100)
    model = SlowOnce("[service notice", "Your order is cancelled and the refund is on its way.")
    with fake.FakeMessagesAPI() as api:
        api.add(*[model] * 50)
        first = server(database_url, tmp_path / "first.log", api)
        servers.append(first.start())
        customer, conversation, asked = cancellation_asked(first, order)
        confirmation_id = asked["pending_confirmation"]["id"]
        in_background(lambda: confirm(first, customer, conversation, asked))
        until(model.held.is_set, 60, "the resumed run to call the model")
        first.kill()

        second = restarted_and_answered(database_url, tmp_path, api, servers, conversation)
        again = confirm(second, customer, conversation, asked)
        assert again.status_code == 409
    ran = scalar(database_url, "SELECT count(*) FROM ledger WHERE order_id = :o", o=order["order_id"])
    status = scalar(database_url, "SELECT status FROM approvals WHERE id = :a", a=confirmation_id)
    assert (ran, status) == (1, "executed")
