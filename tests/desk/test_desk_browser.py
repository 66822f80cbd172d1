"""The desk in a real Chromium: what an agent and a supervisor do with their hands, against the service running
as a process. Each test saves a screenshot of every page it visits in its output folder (`test-results/`).

Waiting is Playwright's: `expect` retries its assertion until the page matches or its timeout passes, so a
queue row that appears by polling is awaited, never slept for.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import BrowserContext, Page, expect

from agent.turn.replies import HANDED_BACK_ANSWERING
from api.desk.session import mint_link_token
from testkit import fixture_data as data
from testkit.confirm import confirm_over_http
from testkit.server import ServerProcess
from testkit.service import TEST_SECRET, bearer

JAMES = "james_li_5688"
LIVE_QUEUE_TIMEOUT_MS = 15_000
"""The queue polls every 2 s; a loaded machine may take a few polls."""


class Customer:
    """A customer of the seed store, chatting through the API as the widget would."""

    def __init__(self, url: str, user_id: str) -> None:
        self.url = url
        self.user_id = user_id
        self.http = httpx.Client(base_url=url, headers=bearer(user_id), timeout=60)

    def new_conversation(self) -> str:
        created = self.http.post("/v1/conversations")
        assert created.status_code == 201, created.text
        return str(created.json()["id"])

    def say(self, conversation: str, text: str) -> dict[str, Any]:
        answer = self.http.post(f"/v1/conversations/{conversation}/messages", json={"content": text})
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    def held(self, *request: str) -> tuple[str, str]:
        """Ask for an action and confirm it; returns the conversation and the approval holding the action."""
        conversation = self.new_conversation()
        asked: dict[str, Any] = {}
        for text in request:
            asked = self.say(conversation, text)["run"]
        run = confirm_over_http(self.url, self.user_id, conversation, asked)
        assert run["status"] == "awaiting_approval", run
        return conversation, run["pending_action"]["approval_id"]

    def answer_after(self, conversation: str, message: str) -> dict[str, Any]:
        """Wait on the conversation's feed for the run that starts after `message` (the assistant's, e.g. its
        hand-back) to end, and return it: a run the customer did not start."""
        said, started = False, None
        with self.http.stream("GET", f"/v1/conversations/{conversation}/events", timeout=60) as feed:
            event = ""
            for line in feed.iter_lines():
                if line.startswith("event:"):
                    event = line.removeprefix("event:").strip()
                elif line.startswith("data:"):
                    data = json.loads(line.removeprefix("data:"))
                    if event == "message.created":
                        said = said or data["message"]["content"] == message
                    elif event == "run.started" and said:
                        started = data["run_id"]
                    elif event in ("run.completed", "run.failed") and started and data["run_id"] == started:
                        run: dict[str, Any] = data["run"]
                        return run
        raise AssertionError("the feed ended before the run did")

    def messages(self, conversation: str) -> list[dict[str, Any]]:
        read = self.http.get(f"/v1/conversations/{conversation}")
        assert read.status_code == 200, read.text
        messages: list[dict[str, Any]] = read.json()["messages"]
        return messages


SignIn = Callable[[str, str], Page]


def signer(live_service: ServerProcess, new_context: Callable[..., BrowserContext]) -> SignIn:
    def sign_in(staff_id: str, role: str) -> Page:
        page = new_context().new_page()
        page.goto(f"{live_service.url}/desk/sign-in/link?token={mint_link_token(TEST_SECRET, staff_id, role)}")
        expect(page.locator("header .who")).to_contain_text(staff_id)
        return page

    return sign_in


def paid(order: data.Order) -> float:
    return sum(t["amount"] for t in order["payment_history"] if t["transaction_type"] == "payment")


def test_an_agent_amends_and_approves_an_item_that_appears_live(
    live_service: ServerProcess, new_context: Callable[..., BrowserContext], shots: Path
) -> None:
    sign_in = signer(live_service, new_context)
    alice = sign_in("agent_alice", "agent")
    expect(alice.locator("#approval-count")).to_have_text("0")

    customer = Customer(live_service.url, JAMES)
    conversation, approval_id = customer.held("Order #W2611340 arrived damaged, please refund $150")
    row = alice.locator(f"tr[data-approval='{approval_id}']")
    expect(row).to_be_visible(timeout=LIVE_QUEUE_TIMEOUT_MS)  # no reload: the open page polled it in
    expect(row).to_contain_text("$150.00")
    expect(row).to_contain_text(JAMES)
    alice.screenshot(path=shots / "queue.png")

    bob = sign_in("agent_bob", "agent")  # a colleague opens the same item, and waits too long
    bob.goto(f"{live_service.url}/desk/approvals/{approval_id}")

    row.locator("a").click()
    expect(alice.locator("#plain")).to_contain_text("Refund $150.00")
    expect(alice.locator("body")).to_contain_text("Order #W2611340 arrived damaged")
    alice.screenshot(path=shots / "approval.png", full_page=True)
    alice.fill("input[name=amount]", "120")
    alice.fill("form[action$='/approve'] input[name=note]", "Partial refund: one item was fine")
    alice.click("button[value=approve]")
    expect(alice.locator("#outcome")).to_contain_text("Approved by agent_alice")
    reply = alice.locator("#resumed-reply").inner_text()
    alice.screenshot(path=shots / "approved.png", full_page=True)

    said = customer.messages(conversation)
    assert said[-1]["role"] == "assistant" and said[-1]["content"] == reply
    decided = httpx.get(
        f"{live_service.url}/v1/approvals/{approval_id}", headers=bearer("agent_alice", "agent"), timeout=30
    ).json()
    assert decided["decision"]["executed_arguments"]["amount"] == 120.0
    assert decided["status"] == "executed"

    with bob.expect_response(lambda r: r.request.method == "POST") as posted:
        bob.click("button[value=approve]")
    assert posted.value.status == 409
    expect(bob.locator("#problem")).to_contain_text("Already decided: agent_alice approved this")
    bob.screenshot(path=shots / "already-decided.png", full_page=True)


def test_a_supervisor_tier_item_is_403_for_an_agent(
    live_service: ServerProcess, new_context: Callable[..., BrowserContext], shots: Path
) -> None:
    order = data.first_order(lambda o: o["status"] == "pending" and 1000 < paid(o) <= 5000)
    customer = Customer(live_service.url, order["user_id"])
    _, approval_id = customer.held(f"Please cancel {order['order_id']}, I no longer need it")

    alice = signer(live_service, new_context)("agent_alice", "agent")
    row = alice.locator(f"tr[data-approval='{approval_id}']")
    expect(row.locator(".tier")).to_have_text("supervisor")
    row.locator("a").click()
    with alice.expect_response(lambda r: r.request.method == "POST") as posted:
        alice.click("button[value=approve]")
    assert posted.value.status == 403
    expect(alice.locator("#problem")).to_contain_text("Over your tier")
    alice.screenshot(path=shots / "over-tier.png", full_page=True)
    still = httpx.get(
        f"{live_service.url}/v1/approvals/{approval_id}", headers=bearer("agent_alice", "agent"), timeout=30
    )
    assert still.json()["status"] == "pending"


def test_a_hand_off_is_claimed_answered_and_closed(
    live_service: ServerProcess, new_context: Callable[..., BrowserContext], shots: Path
) -> None:
    customer = Customer(live_service.url, JAMES)
    conversation = customer.new_conversation()
    assert customer.say(conversation, "Can I talk to a human please?")["run"]["status"] == "handed_off"

    alice = signer(live_service, new_context)("agent_alice", "agent")
    row = alice.locator("#handoffs tbody tr").filter(has_text=JAMES)
    expect(row).to_contain_text("queued")
    row.locator("a").click()
    expect(alice.locator("#handoff-status")).to_have_text("queued")
    alice.screenshot(path=shots / "handoff-queued.png", full_page=True)
    alice.click("text=Claim")
    expect(alice.locator("#handoff-status")).to_have_text("claimed by agent_alice")

    alice.fill("textarea[name=content]", "Hi, I'm Alice from the support team. How can I help?")
    alice.click("text=Send")
    expect(alice.locator(".msg-agent")).to_contain_text("I'm Alice from the support team")
    owned = customer.say(conversation, "My parcel is late")
    assert owned["run"] is None  # a person owns the conversation: no model run
    alice.reload()
    expect(alice.locator(".msg-customer").last).to_contain_text("My parcel is late")
    alice.screenshot(path=shots / "handoff-claimed.png", full_page=True)

    alice.click("button[value=bot]")
    expect(alice.locator("#handoff-status")).to_have_text("closed by agent_alice")
    # Back with the assistant: it says so, and answers what the customer wrote that Alice did not answer.
    answered = customer.answer_after(conversation, HANDED_BACK_ANSWERING)
    said = customer.messages(conversation)
    assert [(m["role"], m["author_id"]) for m in said[-4:]] == [
        ("agent", "agent_alice"),
        ("customer", None),
        ("assistant", None),
        ("assistant", None),
    ]
    assert said[-2]["content"] == HANDED_BACK_ANSWERING and said[-1]["content"] == answered["reply"]
    assert customer.say(conversation, "Where is my order #W2611340?")["run"]["status"] == "completed"

    alice.click("text=review its runs")
    expect(alice.locator("section.run")).to_have_count(3)
    expect(alice.locator("section.run").last).to_contain_text("get_order_details")
    alice.screenshot(path=shots / "review.png", full_page=True)
