"""Answering the service's confirmation of a write, as the customer's widget does: through the API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from policies.config import DEFAULT_POLICY_FILE
from testkit.service import ServiceClient, bearer


async def answer(
    service: ServiceClient, customer: str, conversation: str, run: dict[str, Any], decision: str = "confirm"
) -> dict[str, Any]:
    """Answer the confirmation `run` waits for; return the run that answered the customer after it."""
    assert run["status"] == "awaiting_confirmation", run
    pending = run["pending_confirmation"]
    response = await service.http.post(
        f"/v1/conversations/{conversation}/confirmations/{pending['id']}",
        json={"decision": decision},
        headers=bearer(customer),
    )
    assert response.status_code == 200, response.text
    resumed: dict[str, Any] = response.json()["run"]
    return resumed


async def proposed(service: ServiceClient, customer: str, text: str = "cancel it") -> tuple[str, dict[str, Any]]:
    """A new conversation of `customer` and the run that answered `text` in it (a write waits for the customer's
    confirmation, when the policy asks for one)."""
    conversation = await service.new_conversation(customer)
    sent = await service.say(customer, conversation, text)
    assert sent.status_code == 200, sent.text
    run: dict[str, Any] = sent.json()["run"]
    return conversation, run


async def say_and_confirm(service: ServiceClient, customer: str, conversation: str, text: str) -> dict[str, Any]:
    """Send `text`; if the answer waits for the customer's confirmation, confirm it. Returns the last run."""
    sent = await service.say(customer, conversation, text)
    assert sent.status_code == 200, sent.text
    run: dict[str, Any] = sent.json()["run"]
    if run["status"] == "awaiting_confirmation":
        return await answer(service, customer, conversation, run)
    return run


def without_confirmations(directory: Path) -> str:
    """A copy of the store's policy file that asks the customer to confirm nothing, for tests whose subject is
    another part of the gate (limits, amounts, model faults) and that drive writes straight from a scripted
    model: the customer's confirmation has its own tests (tests/api/test_confirmations.py)."""
    text = DEFAULT_POLICY_FILE.read_text()
    assert 'tools = ["*"]' in text
    path = directory / "policy-without-confirmations.toml"
    path.write_text(text.replace('tools = ["*"]', "tools = []"))
    return str(path)


def confirm_over_http(base_url: str, customer: str, conversation: str, run: dict[str, Any]) -> dict[str, Any]:
    """`answer` for a server in another process: Confirm, and return the run that answered after it."""
    assert run["status"] == "awaiting_confirmation", run
    response = httpx.post(
        f"{base_url}/v1/conversations/{conversation}/confirmations/{run['pending_confirmation']['id']}",
        json={"decision": "confirm"},
        headers=bearer(customer),
        timeout=60,
    )
    assert response.status_code == 200, response.text
    resumed: dict[str, Any] = response.json()["run"]
    return resumed
