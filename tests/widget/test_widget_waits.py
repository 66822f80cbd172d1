"""What the widget says the conversation waits on, in a real Chromium against the service as a process: the
waiting line follows what is open (not the last message), an answered card is no longer busy, the waiting line
never hides the last reply, and a hand-off closed back to the assistant tells the customer so and answers what
they asked the team meanwhile. Screenshots go to each test's output folder (`test-results/`).
"""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Locator, Page, expect

from agent.turn.replies import HANDED_BACK_ANSWERING
from testkit.server import ServerProcess
from tests.widget.test_widget_browser import (
    AGENT_TIER,
    ARRIVES_MS,
    AUTO_TIER,
    JAMES,
    open_by_keyboard,
    pending_order,
    signed_in,
    support_agent,
    write,
)


def fully_above(page: Page, message: Locator, line: Locator) -> None:
    """The message is shown whole, inside the log and above the line under it (nothing slides over it)."""
    log = page.locator(".log").bounding_box()
    shown = message.bounding_box()
    under = line.bounding_box()
    assert log is not None and shown is not None and under is not None
    assert shown["y"] >= log["y"] - 1, (shown, log)
    assert shown["y"] + shown["height"] <= log["y"] + log["height"] + 1, (shown, log)
    assert shown["y"] + shown["height"] <= under["y"] + 1, (shown, under)


def test_the_wait_for_a_team_member_stays_while_the_customer_asks_something_else(
    live_service: ServerProcess, page: Page, shots: Path
) -> None:
    order = pending_order(lambda amount: AUTO_TIER < amount <= AGENT_TIER)
    signed_in(page, live_service.url, order["user_id"])
    open_by_keyboard(page)
    write(page, f"Please cancel {order['order_id']}, I no longer need it")
    card = page.locator(".card")
    card.get_by_role("button", name="Confirm").click(timeout=ARRIVES_MS)
    expect(card.locator(".outcome")).to_have_text("You confirmed this.", timeout=ARRIVES_MS)
    expect(card).not_to_have_attribute("aria-busy", "true")

    waiting = page.locator(".waiting")
    expect(waiting).to_contain_text("Waiting for a team member to review", timeout=ARRIVES_MS)
    fully_above(page, page.locator(".message.assistant").last, waiting)

    write(page, f"What is the status of order {order['order_id']}?")
    answer = page.locator(".message.assistant").last
    expect(answer).to_contain_text("is pending", timeout=ARRIVES_MS)
    expect(answer).not_to_have_attribute("aria-busy", "true")
    expect(waiting).to_contain_text("Waiting for a team member to review")
    fully_above(page, answer, waiting)
    page.screenshot(path=shots / "still-waiting-after-another-question.png")

    page.reload()
    expect(waiting).to_contain_text("Waiting for a team member to review", timeout=ARRIVES_MS)

    staff = support_agent(live_service)
    approval = next(
        a
        for a in staff.get("/v1/approvals", params={"status": "pending"}).json()
        if a["arguments"].get("order_id") == order["order_id"]
    )
    decided = staff.post(f"/v1/approvals/{approval['id']}/approve", json={"note": "Fine to cancel"})
    assert decided.status_code == 200, decided.text
    expect(page.locator(".note.decision")).to_have_text(
        "A team member approved this. Note: Fine to cancel", timeout=ARRIVES_MS
    )
    expect(waiting).to_be_hidden()
    expect(page.locator(".message.assistant").last).to_contain_text("is cancelled", timeout=ARRIVES_MS)


def test_a_hand_off_closed_to_the_assistant_says_so_and_answers_what_was_asked_meanwhile(
    live_service: ServerProcess, page: Page, shots: Path
) -> None:
    page.set_viewport_size({"width": 1366, "height": 640})  # a small laptop: the log scrolls
    signed_in(page, live_service.url, JAMES)
    open_by_keyboard(page)
    write(page, "Where is my order #W3632959?")
    first = page.locator(".message.assistant")
    expect(first).to_contain_text("#W3632959", timeout=ARRIVES_MS)
    expect(first).not_to_have_attribute("aria-busy", "true", timeout=ARRIVES_MS)  # answered, not still streaming
    write(page, "I would like to talk to a real person please")
    waiting = page.locator(".waiting")
    expect(waiting).to_have_text("Waiting for a team member to join the conversation.", timeout=ARRIVES_MS)
    fully_above(page, page.locator(".message.assistant").last, waiting)
    page.screenshot(path=shots / "handed-off.png")

    staff = support_agent(live_service)
    handoff = next(h for h in staff.get("/v1/handoffs").json() if h["customer_id"] == JAMES)
    base = f"/v1/handoffs/{handoff['id']}"
    assert staff.post(f"{base}/claim").status_code == 200
    said = staff.post(f"{base}/messages", json={"content": "Hi James, Alice here. One moment please."})
    assert said.status_code == 200, said.text
    expect(page.locator(".message.agent")).to_have_count(1, timeout=ARRIVES_MS)
    expect(waiting).to_have_text("A team member is looking at your conversation.")

    write(page, "While I wait: where is my order #W2611340?")  # to Alice, who hands back without answering it
    expect(page.locator(".message.customer").last).not_to_have_class("message customer sending", timeout=ARRIVES_MS)
    assert staff.post(f"{base}/close", json={"outcome": "bot"}).status_code == 200

    replies = page.locator(".message.assistant")
    expect(replies.filter(has_text=HANDED_BACK_ANSWERING)).to_have_count(1, timeout=ARRIVES_MS)
    answer = replies.last
    expect(answer).to_contain_text("Order #W2611340 has been processed and shipped", timeout=ARRIVES_MS)
    expect(waiting).to_be_hidden()
    expect(page.locator(".log > li").last).to_contain_text("Was this answer helpful?")  # under the answer
    log = page.locator(".log > li:not(.feedback)")
    texts = log.all_inner_texts()
    assert texts[-3:][0].endswith("While I wait: where is my order #W2611340?"), texts
    assert HANDED_BACK_ANSWERING in texts[-2] and "#W2611340" in texts[-1], texts
    page.screenshot(path=shots / "handed-back.png")

    page.reload()  # the same, read back
    expect(replies.filter(has_text=HANDED_BACK_ANSWERING)).to_have_count(1, timeout=ARRIVES_MS)
    expect(replies.last).to_contain_text("Order #W2611340 has been processed and shipped")
    expect(waiting).to_be_hidden()
