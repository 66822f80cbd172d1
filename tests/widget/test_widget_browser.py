"""The widget in a real Chromium, embedded by `/demo` exactly as a store page embeds it, against the service
running as a process. What a customer sees and does: the streamed reply, the confirmation card (answered by
keyboard), the waiting state and the team member's decision arriving on the feed, a reload, the busy and
rate-limit answers, a phone screen. Screenshots go to each test's output folder (`test-results/`).

Waiting is Playwright's: `expect` retries until the page matches, so nothing here sleeps.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import BrowserContext, Page, Route, expect

from api.identity import mint_token
from testkit import fixture_data as data
from testkit.fakes.anthropic_api import FakeMessagesAPI, StreamCut, say
from testkit.server import ServerProcess, free_port
from testkit.service import TEST_SECRET, bearer

JAMES = "james_li_5688"
AUTO_TIER, AGENT_TIER = 100, 1000
"""The policy file's default money tiers: a cancellation refunding up to $100 runs on the customer's confirm;
up to $1,000 it waits for a support agent."""
ARRIVES_MS = 20_000
"""A reply on a loaded two-core machine, or the feed reconnecting after a restart (its back-off included)."""


def paid(order: data.Order) -> float:
    return sum(t["amount"] for t in order["payment_history"] if t["transaction_type"] == "payment")


def pending_order(within: Callable[[float], bool]) -> data.Order:
    return data.first_order(lambda o: o["status"] == "pending" and within(paid(o)))


def signed_in(page: Page, url: str, customer: str) -> Page:
    """Pick the customer on `/demo` as a person does, and wait for the widget to be on the page."""
    page.goto(f"{url}/demo")
    page.get_by_label("Shop as").select_option(customer)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("support-widget .root")).to_be_attached()  # open or closed, as the customer left it
    return page


def open_by_keyboard(page: Page) -> None:
    page.get_by_role("button", name="Chat with support").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_label("Your message")).to_be_focused()


def write(page: Page, text: str) -> None:
    page.get_by_label("Your message").fill(text)
    page.keyboard.press("Enter")


def record_partial_replies(page: Page) -> None:
    """Remember every text an assistant bubble shows while it is still being written (aria-busy)."""
    page.evaluate(
        """() => {
          const root = document.querySelector("support-widget").shadowRoot;
          window.partialReplies = [];
          new MutationObserver(() => {
            for (const text of root.querySelectorAll(".message.assistant[aria-busy=true] .text"))
              if (text.textContent) window.partialReplies.push(text.textContent);
          }).observe(root, { subtree: true, childList: true, characterData: true });
        }"""
    )


def claude_at(api: FakeMessagesAPI) -> dict[str, str]:
    """A service whose model is Claude, reached at the fake Messages API, with the offline model behind it."""
    return {
        "SUPPORT_MODEL": "anthropic:claude-sonnet-4-6",
        "ANTHROPIC_API_KEY": "test-key",
        "ANTHROPIC_BASE_URL": api.base_url,
        "SUPPORT_MODEL_MAX_RETRIES": "0",
        "SUPPORT_MODEL_TIMEOUT_S": "60",
    }


def order_status(sqlite_url: str, order_id: str) -> str:
    with sqlite3.connect(sqlite_url.removeprefix("sqlite:///")) as connection:
        row = connection.execute("select status from orders where order_id = ?", (order_id,)).fetchone()
    return str(row[0])


def support_agent(service: ServerProcess) -> httpx.Client:
    """The API as a support agent uses it (the desk), beside the customer's page."""
    return httpx.Client(base_url=service.url, headers=bearer("agent_alice", "agent"), timeout=60)


def last_run_status(staff: httpx.Client, conversation_id: str) -> str:
    """The status of the conversation's last run, as staff read it."""
    runs = staff.get(f"/v1/conversations/{conversation_id}").json()["runs"]
    return str(runs[-1]["status"])


def focus_path(page: Page, presses: int) -> list[str]:
    """What Tab reaches, in order: each focused control's accessible text inside the widget."""
    reached = []
    for _ in range(presses):
        page.keyboard.press("Tab")
        reached.append(
            page.evaluate(
                """() => {
                  const active = document.querySelector("support-widget")?.shadowRoot?.activeElement;
                  if (!active) return "(page)";
                  return active.getAttribute("aria-label") || active.id || active.textContent.trim();
                }"""
            )
        )
    return reached


def test_a_customer_cancels_an_order_confirming_by_keyboard(
    live_service: ServerProcess, page: Page, sqlite_url: str, shots: Path
) -> None:
    order = pending_order(lambda amount: amount <= AUTO_TIER)
    signed_in(page, live_service.url, order["user_id"])
    open_by_keyboard(page)
    record_partial_replies(page)
    write(page, f"What is the status of order {order['order_id']}?")
    reply = page.locator(".message.assistant").first
    expect(reply).to_contain_text("is pending", timeout=ARRIVES_MS)
    expect(reply).not_to_have_attribute("aria-busy", "true")
    partial: list[str] = page.evaluate("window.partialReplies")
    final = reply.locator(".text").inner_text()
    assert partial and len(partial[0]) < len(final), "the reply was shown while it was being written"

    write(page, f"Please cancel order {order['order_id']}, I no longer need it")
    card = page.locator(".card")
    expect(card.locator(".summary")).to_contain_text(f"Cancel order {order['order_id']}", timeout=ARRIVES_MS)
    page.screenshot(path=shots / "confirmation-card.png")
    assert order_status(sqlite_url, order["order_id"]) == "pending", "nothing changes before the customer confirms"

    # From the message box, Shift+Tab walks back to the card's buttons: Decline, then Confirm.
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    expect(card.get_by_role("button", name="Confirm")).to_be_focused()
    page.keyboard.press("Enter")

    expect(card.locator(".outcome")).to_have_text("You confirmed this.", timeout=ARRIVES_MS)
    expect(card.get_by_role("button")).to_have_count(0)
    answer = page.locator(".message.assistant").last
    expect(answer).to_contain_text("is cancelled", timeout=ARRIVES_MS)
    expect(page.get_by_label("Your message")).to_be_focused()
    assert order_status(sqlite_url, order["order_id"]) == "cancelled"
    page.screenshot(path=shots / "cancelled-desktop.png")


def test_an_action_that_needs_an_agent_waits_then_shows_the_decision_across_a_lost_connection(
    live_service: ServerProcess, page: Page, shots: Path
) -> None:
    order = pending_order(lambda amount: AUTO_TIER < amount <= AGENT_TIER)
    signed_in(page, live_service.url, order["user_id"])
    open_by_keyboard(page)
    write(page, f"Please cancel {order['order_id']}, I no longer need it")
    page.locator(".card").get_by_role("button", name="Confirm").click(timeout=ARRIVES_MS)

    waiting = page.locator(".waiting")
    expect(waiting).to_contain_text("Waiting for a team member", timeout=ARRIVES_MS)
    page.screenshot(path=shots / "waiting.png")

    # The connection drops (the service restarts); the widget resumes the feed from its last event id.
    live_service.stop()
    expect(page.get_by_role("alert")).to_have_text("Connection lost. Reconnecting…", timeout=ARRIVES_MS)
    live_service.start()
    expect(page.get_by_role("alert")).to_be_hidden(timeout=ARRIVES_MS)
    staff = support_agent(live_service)
    pending = staff.get("/v1/approvals", params={"status": "pending"}).json()
    approval = next(a for a in pending if a["arguments"].get("order_id") == order["order_id"])
    decided = staff.post(f"/v1/approvals/{approval['id']}/approve", json={"note": "Fine to cancel"})
    assert decided.status_code == 200, decided.text

    decision = page.locator(".note.decision")
    expect(decision).to_have_text("A team member approved this. Note: Fine to cancel", timeout=ARRIVES_MS)
    expect(waiting).to_be_hidden()
    expect(page.locator(".message.assistant").last).to_contain_text("is cancelled", timeout=ARRIVES_MS)
    expect(page.locator(".message.customer")).to_have_count(1)  # resumed without repeating anything
    expect(decision).to_have_count(1)
    page.screenshot(path=shots / "decided.png")


def test_after_a_reload_the_conversation_and_its_open_card_come_back_on_a_phone(
    live_service: ServerProcess, page: Page, shots: Path
) -> None:
    page.set_viewport_size({"width": 360, "height": 740})
    order = pending_order(lambda amount: amount <= AUTO_TIER)
    signed_in(page, live_service.url, order["user_id"])
    open_by_keyboard(page)
    write(page, f"Please cancel order {order['order_id']}, I no longer need it")
    expect(page.locator(".card .summary")).to_contain_text(order["order_id"], timeout=ARRIVES_MS)

    page.reload()
    expect(page.locator(".message.customer")).to_have_text(
        [f"YouPlease cancel order {order['order_id']}, I no longer need it"], timeout=ARRIVES_MS
    )
    card = page.locator(".card")
    expect(card.locator(".summary")).to_contain_text(order["order_id"])
    expect(card).to_have_count(1)
    panel = page.locator(".panel").bounding_box()
    assert panel is not None and panel["x"] >= 0 and panel["x"] + panel["width"] <= 360
    assert page.evaluate("document.documentElement.scrollWidth") <= 360, "nothing scrolls sideways"
    page.screenshot(path=shots / "phone.png")

    card.get_by_role("button", name="Confirm").click()
    expect(page.locator(".message.assistant").last).to_contain_text("is cancelled", timeout=ARRIVES_MS)

    # Opened again, the answered card says how it ended, in its place: before the reply that reported it.
    page.reload()
    expect(card.locator(".outcome")).to_have_text("You confirmed this.", timeout=ARRIVES_MS)
    expect(card).to_have_count(1)
    expect(card.get_by_role("button")).to_have_count(0)
    # The last message is the reply (a "Was this answer helpful?" under it, when the page saw it arrive, is not one).
    expect(page.locator(".log > li:not(.feedback)").last).to_contain_text("is cancelled")


def test_every_control_is_reachable_by_tab_and_new_messages_are_announced_as_text(
    live_service: ServerProcess, page: Page
) -> None:
    signed_in(page, live_service.url, JAMES)
    open_by_keyboard(page)
    hostile = '<img src=x onerror="window.injected=1">Where is order #W2611340?'
    write(page, hostile)
    expect(page.locator(".message.assistant .text")).to_contain_text("#W2611340", timeout=ARRIVES_MS)
    expect(page.locator(".message.customer .text")).to_have_text(hostile)  # shown as the words typed
    assert page.locator("support-widget img").count() == 0 and page.evaluate("window.injected") is None

    announcer = page.locator("[data-announcer]")
    expect(announcer).to_have_attribute("aria-live", "polite")
    expect(announcer).to_contain_text("Support: ")
    reply = page.locator(".message.assistant .text").last.inner_text()
    assert reply in announcer.inner_text()

    page.get_by_label("Your message").focus()
    page.keyboard.press("Escape")
    expect(page.get_by_role("button", name="Chat with support")).to_be_focused()
    page.keyboard.press("Enter")
    reached = focus_path(page, 14)  # once round the page and the widget, and on
    start = reached.index("Close the chat")
    expected = ["Close the chat", "Conversation", "Yes", "No", "support-input", "Send", "(page)"]
    assert reached[start : start + 7] == expected, reached
    page.get_by_role("button", name="Send").focus()
    outline = page.evaluate(
        """() => getComputedStyle(document.querySelector("support-widget").shadowRoot.activeElement).outlineStyle"""
    )
    assert outline == "solid", "the keyboard focus is visible"


def test_too_many_messages_says_when_to_send_again_and_keeps_the_text(
    servers: list[ServerProcess], sqlite_url: str, tmp_path: Path, page: Page, chromium_path: str
) -> None:
    service = ServerProcess(sqlite_url, tmp_path / "server.log", SUPPORT_DEMO="1", SUPPORT_CHAT_PER_MINUTE="1")
    servers.append(service.start())
    signed_in(page, service.url, JAMES)
    open_by_keyboard(page)
    write(page, "Where is order #W2611340?")
    expect(page.locator(".message.assistant")).to_have_count(1, timeout=ARRIVES_MS)
    expect(page.locator(".message.assistant")).not_to_have_attribute("aria-busy", "true", timeout=ARRIVES_MS)

    write(page, "And when will it arrive?")
    notice = page.get_by_role("alert")
    expect(notice).to_contain_text("You can send again at", timeout=ARRIVES_MS)
    expect(page.get_by_label("Your message")).to_have_value("And when will it arrive?")
    expect(page.locator(".message.customer")).to_have_count(1)  # the refused message is not shown as sent


def test_a_message_while_the_last_is_still_being_answered_is_busy_and_keeps_the_text(
    servers: list[ServerProcess], sqlite_url: str, tmp_path: Path, context: BrowserContext, chromium_path: str
) -> None:
    slow_model: dict[str, Any] = {"delay_s": 30.0}
    with FakeMessagesAPI(say("Hello! How can I help?", **slow_model)) as api:
        service = ServerProcess(sqlite_url, tmp_path / "server.log", SUPPORT_DEMO="1", **claude_at(api))
        servers.append(service.start())
        first = signed_in(context.new_page(), service.url, JAMES)
        open_by_keyboard(first)
        write(first, "Hi there")
        expect(first.locator(".message.assistant.typing")).to_have_count(1, timeout=ARRIVES_MS)

        second = signed_in(context.new_page(), service.url, JAMES)  # another tab: the same conversation
        expect(second.locator(".message.customer")).to_have_count(1, timeout=ARRIVES_MS)
        second.get_by_label("Your message").fill("Are you there?")
        second.get_by_role("button", name="Send").click()
        expect(second.get_by_role("alert")).to_contain_text("still answering", timeout=ARRIVES_MS)
        expect(second.get_by_label("Your message")).to_have_value("Are you there?")
        service.stop()  # ends the slow answer's wait too


def test_text_from_a_model_that_failed_mid_answer_is_dropped_when_the_fallback_answers(
    servers: list[ServerProcess], sqlite_url: str, tmp_path: Path, page: Page, chromium_path: str
) -> None:
    half_answer = "Let me look that up for you, it will only take a moment"
    with FakeMessagesAPI(say(half_answer, cut=StreamCut(after_events=6, how="drop"))) as api:
        service = ServerProcess(sqlite_url, tmp_path / "server.log", SUPPORT_DEMO="1", **claude_at(api))
        servers.append(service.start())
        signed_in(page, service.url, JAMES)
        open_by_keyboard(page)
        record_partial_replies(page)
        write(page, "Where is order #W2611340?")
        reply = page.locator(".message.assistant")
        expect(reply).to_have_count(1, timeout=ARRIVES_MS)
        expect(reply).not_to_have_attribute("aria-busy", "true", timeout=ARRIVES_MS)
        expect(reply).to_contain_text("#W2611340")
        partial: list[str] = page.evaluate("window.partialReplies")
        assert any(text.startswith("Let me") for text in partial), "the first model's words were streamed"
        mixed = [text for text in partial if "Let me" in text and "#W2611340" in text]
        assert not mixed, "the half answer was dropped before the fallback's answer was shown"
        expect(reply).not_to_contain_text("Let me")


def test_a_hand_off_shows_the_wait_then_the_team_members_reply_without_a_reload(
    live_service: ServerProcess, page: Page, shots: Path
) -> None:
    signed_in(page, live_service.url, JAMES)
    open_by_keyboard(page)
    write(page, "I would like to talk to a real person please")
    waiting = page.locator(".waiting")
    expect(waiting).to_have_text("Waiting for a team member to join the conversation.", timeout=ARRIVES_MS)

    staff = support_agent(live_service)
    handoff = next(h for h in staff.get("/v1/handoffs").json() if h["customer_id"] == JAMES)
    assert staff.post(f"/v1/handoffs/{handoff['id']}/claim").status_code == 200
    expect(waiting).to_have_text("A team member is looking at your conversation.", timeout=ARRIVES_MS)
    said = staff.post(
        f"/v1/handoffs/{handoff['id']}/messages", json={"content": "Hi James, Alice here. How can I help?"}
    )
    assert said.status_code == 200, said.text

    reply = page.locator(".message.agent")
    expect(reply).to_have_text(["Team memberHi James, Alice here. How can I help?"], timeout=ARRIVES_MS)
    expect(page.locator("[data-announcer]")).to_contain_text("Team member: Hi James, Alice here.")
    page.screenshot(path=shots / "team-member-reply.png")
    assert staff.post(f"/v1/handoffs/{handoff['id']}/close", json={"outcome": "bot"}).status_code == 200
    expect(waiting).to_be_hidden(timeout=ARRIVES_MS)

    # Opened again after the close: the last run still reads `handed_off`, but no hand-off is open, so no wait.
    page.reload()
    expect(reply).to_have_text(["Team memberHi James, Alice here. How can I help?"], timeout=ARRIVES_MS)
    expect(waiting).to_be_hidden()


def test_an_expired_token_is_replaced_by_asking_the_page_again(live_service: ServerProcess, page: Page) -> None:
    """The store's token endpoint is the page's business, not the widget's: here its first answer is a token
    that has already run out, as a tab left open overnight would hold."""
    expired = mint_token(TEST_SECRET, JAMES, "customer", timedelta(seconds=-60))
    asked: list[str] = []

    def store_back_end(route: Route) -> None:
        asked.append(route.request.url)
        if len(asked) == 1:
            route.fulfill(json={"token": expired, "expires_at": "2000-01-01T00:00:00Z"})
        else:
            route.continue_()

    page.route("**/demo/token", store_back_end)
    signed_in(page, live_service.url, JAMES)
    open_by_keyboard(page)
    write(page, "Where is order #W2611340?")
    expect(page.locator(".message.assistant")).to_contain_text("#W2611340", timeout=ARRIVES_MS)
    assert len(asked) == 2
    expect(page.get_by_role("alert")).to_be_hidden()


def test_the_event_parser_reads_events_however_the_bytes_are_split(live_service: ServerProcess, page: Page) -> None:
    page.goto(f"{live_service.url}/demo")
    events = page.evaluate(
        """async () => {
          const { readEvents } = await import("/widget/sse.js");
          const wire = 'retry: 2000\\r\\n\\r\\n: ping\\n\\n'
            + 'id: 7\\r\\nevent: message.created\\r\\ndata: {"message":\\r\\n'
            + 'data:  {"content": "a\\u00e9\\u4e2d"}}\\r\\n\\r\\nevent: message.delta\\rdata: {"text": "hi"}\\r\\r'
            + 'event: tool.started\\ndata: {"tool": "x"}\\n\\nevent: cut.off\\ndata: {"never": "dispatched"}';
          const bytes = new TextEncoder().encode(wire);
          const readings = [];
          for (let size = 1; size <= 8; size++) {  // every way of splitting a \\r\\n or a character
            const body = new ReadableStream({
              start(controller) {
                for (let at = 0; at < bytes.length; at += size) controller.enqueue(bytes.slice(at, at + size));
                controller.close();
              },
            });
            const seen = [];
            for await (const event of readEvents(new Response(body))) seen.push(event);
            readings.push(seen);
          }
          return readings;
        }"""
    )
    assert len(events) == 8
    for reading in events:
        assert reading == [
            {"event": "retry", "data": None, "id": None, "retry": 2000},
            {"event": "message.created", "data": {"message": {"content": "aé中"}}, "id": "7", "retry": None},
            {"event": "message.delta", "data": {"text": "hi"}, "id": None, "retry": None},
            {"event": "tool.started", "data": {"tool": "x"}, "id": None, "retry": None},
        ]


def test_a_store_on_another_origin_embeds_it_with_one_script_tag(
    servers: list[ServerProcess], sqlite_url: str, tmp_path: Path, page: Page, chromium_path: str
) -> None:
    """A real cross-origin embed: the store's page comes from another origin (its own little web server), the
    widget mounts itself from the script tag's attributes, and the API answers it through CORS."""
    shop_port = free_port()
    shop_origin = f"http://localhost:{shop_port}"
    service = ServerProcess(sqlite_url, tmp_path / "server.log", SUPPORT_CORS_ORIGINS=shop_origin)
    servers.append(service.start())
    token = mint_token(TEST_SECRET, JAMES, "customer", timedelta(minutes=15))
    (tmp_path / "shop").mkdir()
    (tmp_path / "shop" / "index.html").write_text(
        f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>A shop</title>
        <script>window.supportToken = async () => {json.dumps(token)};</script></head>
        <body><h1>A shop</h1>
        <script type="module" src="{service.url}/widget.js" data-api-base="{service.url}"
                data-get-token="supportToken"></script></body></html>"""
    )
    handler = partial(SimpleHTTPRequestHandler, directory=str(tmp_path / "shop"))
    shop = ThreadingHTTPServer(("127.0.0.1", shop_port), handler)
    threading.Thread(target=shop.serve_forever, daemon=True).start()
    try:
        page.goto(f"{shop_origin}/index.html")
        open_by_keyboard(page)
        write(page, "Where is order #W2611340?")
        expect(page.locator(".message.assistant")).to_contain_text("#W2611340", timeout=ARRIVES_MS)
    finally:
        shop.shutdown()
        shop.server_close()


def test_a_decision_made_while_the_page_was_closed_is_shown_when_it_opens_again(
    live_service: ServerProcess, page: Page
) -> None:
    order = pending_order(lambda amount: AUTO_TIER < amount <= AGENT_TIER)
    signed_in(page, live_service.url, order["user_id"])
    open_by_keyboard(page)
    write(page, f"Please cancel {order['order_id']}, I no longer need it")
    page.locator(".card").get_by_role("button", name="Confirm").click(timeout=ARRIVES_MS)
    expect(page.locator(".waiting")).to_contain_text("Waiting for a team member", timeout=ARRIVES_MS)
    page.reload()
    expect(page.locator(".waiting")).to_contain_text("Waiting for a team member", timeout=ARRIVES_MS)

    page.goto("about:blank")
    staff = support_agent(live_service)
    approval = next(
        a
        for a in staff.get("/v1/approvals", params={"status": "pending"}).json()
        if a["arguments"].get("order_id") == order["order_id"]
    )
    rejected = staff.post(f"/v1/approvals/{approval['id']}/reject", json={"note": "Already shipped from our side"})
    assert rejected.status_code == 200, rejected.text

    page.go_back()
    expect(page.locator(".note.decision")).to_have_text(
        "A team member declined this. Note: Already shipped from our side", timeout=ARRIVES_MS
    )
    expect(page.locator(".waiting")).to_be_hidden()
    expect(page.locator(".message.customer")).to_have_count(1)
    assert last_run_status(staff, approval["conversation_id"]) == "completed"


def test_a_declined_card_still_says_so_after_a_reload(live_service: ServerProcess, page: Page) -> None:
    order = pending_order(lambda amount: amount <= AUTO_TIER)
    signed_in(page, live_service.url, order["user_id"])
    open_by_keyboard(page)
    write(page, f"Please cancel order {order['order_id']}, I no longer need it")
    card = page.locator(".card")
    card.get_by_role("button", name="Decline").click(timeout=ARRIVES_MS)
    expect(card.locator(".outcome")).to_have_text("You declined this. Nothing was changed.", timeout=ARRIVES_MS)
    replies = page.locator(".message.assistant")
    expect(replies).to_have_count(2, timeout=ARRIVES_MS)  # the question, then the answer to the decline

    page.reload()
    expect(card.locator(".outcome")).to_have_text("You declined this. Nothing was changed.", timeout=ARRIVES_MS)
    expect(card.get_by_role("button")).to_have_count(0)
    expect(replies).to_have_count(2)


def test_an_amended_approval_shows_the_amount_approved_and_the_note_also_after_a_reload(
    live_service: ServerProcess, page: Page, shots: Path
) -> None:
    signed_in(page, live_service.url, JAMES)
    open_by_keyboard(page)
    write(page, "Order #W2611340 arrived damaged, please refund $150")
    page.locator(".card").get_by_role("button", name="Confirm").click(timeout=ARRIVES_MS)
    expect(page.locator(".waiting")).to_contain_text("Waiting for a team member", timeout=ARRIVES_MS)

    staff = support_agent(live_service)
    approval = next(
        a for a in staff.get("/v1/approvals", params={"status": "pending"}).json() if a["customer_id"] == JAMES
    )
    assert approval["amount"] == 150
    decided = staff.post(
        f"/v1/approvals/{approval['id']}/approve",
        json={"note": "Refunding the damaged item only", "arguments": {**approval["arguments"], "amount": 120}},
    )
    assert decided.status_code == 200, decided.text

    decision = page.locator(".note.decision")
    words = "A team member approved this with changes: $120.00. Note: Refunding the damaged item only"
    expect(decision).to_have_text(words, timeout=ARRIVES_MS)
    expect(page.locator(".waiting")).to_be_hidden()
    expect(page.locator(".message.assistant").last).to_contain_text("$120.00", timeout=ARRIVES_MS)
    page.screenshot(path=shots / "amended.png")

    page.reload()
    expect(decision).to_have_text([words], timeout=ARRIVES_MS)
    expect(page.locator(".card .outcome")).to_have_text("You confirmed this.")
    expect(page.locator(".waiting")).to_be_hidden()


def test_a_card_that_ran_out_says_it_expired_after_a_reload(
    live_service: ServerProcess, page: Page, sqlite_url: str
) -> None:
    order = pending_order(lambda amount: amount <= AUTO_TIER)
    signed_in(page, live_service.url, order["user_id"])
    open_by_keyboard(page)
    write(page, f"Please cancel order {order['order_id']}, I no longer need it")
    card = page.locator(".card")
    expect(card.get_by_role("button", name="Confirm")).to_be_visible(timeout=ARRIVES_MS)
    with sqlite3.connect(sqlite_url.removeprefix("sqlite:///")) as connection:  # as if the customer left for lunch
        connection.execute("update approvals set expires_at = created_at where status = 'pending'")

    card.get_by_role("button", name="Confirm").click()
    expect(card.locator(".outcome")).to_contain_text("expired", timeout=ARRIVES_MS)
    assert order_status(sqlite_url, order["order_id"]) == "pending"

    page.reload()
    expect(card.locator(".outcome")).to_have_text("This expired. Nothing was changed.", timeout=ARRIVES_MS)
    expect(card.get_by_role("button")).to_have_count(0)


def comment_rows(sqlite_url: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(sqlite_url.removeprefix("sqlite:///")) as connection:
        verdicts = connection.execute("select run_id, helpful, comment from feedback").fetchall()
        flags = connection.execute("select run_id, kind, value from run_flags").fetchall()
    return [*verdicts, *flags]


def test_a_thumbs_down_with_a_comment_by_keyboard_reaches_the_review_queue(
    live_service: ServerProcess, page: Page, sqlite_url: str, shots: Path
) -> None:
    page.set_viewport_size({"width": 360, "height": 740})
    signed_in(page, live_service.url, JAMES)
    open_by_keyboard(page)
    write(page, "Where is order #W2611340?")
    feedback = page.locator(".feedback")
    expect(feedback.get_by_text("Was this answer helpful?")).to_be_visible(timeout=ARRIVES_MS)
    expect(feedback).to_have_count(1)
    page.screenshot(path=shots / "feedback-question.png")

    feedback.get_by_role("button", name="No").focus()
    page.keyboard.press("Enter")
    comment = page.get_by_label("Sorry it didn't help. What was missing or wrong? (optional)")
    expect(comment).to_be_focused()
    comment.fill("I wanted to know when it arrives.")
    page.screenshot(path=shots / "feedback-comment.png")
    assert page.evaluate("document.documentElement.scrollWidth") <= 360, "nothing scrolls sideways"
    feedback.get_by_role("button", name="Send", exact=True).focus()
    page.keyboard.press("Enter")
    expect(feedback).to_have_text("Thank you for telling us.", timeout=ARRIVES_MS)
    expect(page.get_by_label("Your message")).to_be_focused()  # the keyboard stays in the panel
    page.screenshot(path=shots / "feedback-thanks.png")

    run_id = feedback.get_attribute("data-feedback-run")
    assert comment_rows(sqlite_url) == [
        (run_id, 0, "I wanted to know when it arrives."),
        (run_id, "thumbs_down", "I wanted to know when it arrives."),
    ]
    # Once per answer: the next answer gets its own question, the answered one stays answered.
    write(page, "Thanks!")
    expect(feedback).to_have_count(2, timeout=ARRIVES_MS)
    expect(feedback.first).to_have_text("Thank you for telling us.")
