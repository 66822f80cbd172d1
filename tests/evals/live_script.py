"""Scripts for `support eval` tests: a scripted agent and a scripted simulated customer on one fake Messages API.

The fake tells the two apart by the system prompt (the simulated customer's starts with the line below), so each
has its own script. Task 88 of the tau2 train set is used throughout: its customer (daiki_silva_2903) wants
order #W8835847 cancelled as "ordered by mistake"; the order paid $689.97 from a gift card, so the service asks
the customer to confirm and then holds the cancellation for a support agent's approval.
"""

from __future__ import annotations

from typing import Any

import pytest

from cli.main import main
from evals.simulated_customer import OPENING, SYSTEM_PROMPT
from testkit.fakes.anthropic_api import FakeMessagesAPI, Reply, TokenUsage, call, say, system_says

CUSTOMER_LANE = "customer"
TASK = "88"
ORDER = "#W8835847"
MODEL = "anthropic:claude-sonnet-4-6"


def fake_api() -> FakeMessagesAPI:
    return FakeMessagesAPI(lanes={CUSTOMER_LANE: system_says(SYSTEM_PROMPT.splitlines()[0])})


def last_heard(body: dict[str, Any]) -> str:
    content = body["messages"][-1]["content"]
    return content if isinstance(content, str) else "".join(b.get("text", "") for b in content)


def customer(usage: TokenUsage | None = None) -> Any:
    """The simulated customer of task 88: asks for the cancellation, confirms it, then says goodbye."""

    def answer(body: dict[str, Any]) -> Reply:
        heard = last_heard(body)
        if heard == OPENING:
            return say(f"Hi, please cancel my order {ORDER}. I ordered it by mistake.", usage=usage)
        if "CONFIRM" in heard:
            return say("CONFIRM", usage=usage)
        return say("Thanks, that is all. ###STOP###", usage=usage)

    return answer


def script_passing_trial(api: FakeMessagesAPI) -> None:
    """The agent cancels the order with the customer's reason and says so: the store ends as tau2 expects."""
    api.add(customer(), customer(), customer(), lane=CUSTOMER_LANE)
    api.add(
        call("cancel_pending_order", {"order_id": ORDER, "reason": "ordered by mistake"}),
        say(f"Order {ORDER} is cancelled and the $689.97 goes back to your gift card."),
    )


def script_failing_trial(api: FakeMessagesAPI) -> None:
    """The agent refuses to help: the order stays pending, which is not what the task expects."""
    api.add(customer(), customer(), lane=CUSTOMER_LANE)
    api.add(say("Sorry, I cannot cancel orders."))


def support_eval(monkeypatch: pytest.MonkeyPatch, api: FakeMessagesAPI, *args: str) -> int:
    """Run `support eval` as a user types it, with the fake standing in for Anthropic; returns the exit code."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", api.base_url)
    monkeypatch.setenv("SUPPORT_MODEL_MAX_RETRIES", "0")
    with pytest.raises(SystemExit) as exited:
        main(["eval", "--model", MODEL, *args])
    return int(exited.value.code or 0)


def declining_customer() -> Any:
    """Task 88's customer, who says no when asked to confirm."""

    def answer(body: dict[str, Any]) -> Reply:
        heard = last_heard(body)
        if heard == OPENING:
            return say(f"Please cancel my order {ORDER}.")
        if "CONFIRM" in heard:
            return say("DECLINE")
        return say("###STOP###")

    return answer
