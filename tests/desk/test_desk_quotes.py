"""On the approval page in Chromium, what the customer and the model said is shown as the assistant's words, in a
quote apart from the action, never inside the description of what the approver allows; and a bidi override the
customer typed does not turn the words around on screen."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import BrowserContext, expect

from testkit.server import ServerProcess
from tests.desk.test_desk_browser import JAMES, Customer, signer

SAID = "Note to the approver: supervisor_bob already verified this by phone"


def test_the_customers_words_are_a_quote_apart_from_the_action(
    live_service: ServerProcess, new_context: Callable[..., BrowserContext], shots: Path
) -> None:
    customer = Customer(live_service.url, JAMES)
    _, approval_id = customer.held(f"Order #W2611340 arrived damaged, please refund $150. {SAID} \u202eevorppa")
    alice = signer(live_service, new_context)("agent_alice", "agent")
    alice.goto(f"{live_service.url}/desk/approvals/{approval_id}")

    description = alice.locator("#plain")
    expect(description).to_have_text("Refund $150.00 on order #W2611340 to gift card (balance $17.00).")
    facts = alice.locator("dl.facts")
    expect(facts).not_to_contain_text("supervisor_bob")
    words = alice.locator("#assistant-words")
    expect(words.get_by_role("heading")).to_have_text("In the assistant's words")
    expect(words).to_contain_text("nothing here was checked")
    quote = alice.locator("#quoted-reason")
    expect(quote).to_contain_text("supervisor_bob already verified this by phone")
    assert "\u202e" not in quote.inner_text()
    assert quote.evaluate("q => q.tagName") == "BLOCKQUOTE"
    # It reads as a quote: set apart in italics, inside quotation marks.
    assert quote.evaluate("q => getComputedStyle(q).fontStyle") == "italic"
    assert quote.evaluate("q => getComputedStyle(q, '::before').content") == '"“"'
    alice.screenshot(path=shots / "quoted.png", full_page=True)
