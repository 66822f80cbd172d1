"""Answering the service's confirmation of a write, as the customer's widget does: through the API."""

from __future__ import annotations

from typing import Any

from tests.support.service import ServiceClient, bearer


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


async def say_and_confirm(service: ServiceClient, customer: str, conversation: str, text: str) -> dict[str, Any]:
    """Send `text`; if the answer waits for the customer's confirmation, confirm it. Returns the last run."""
    sent = await service.say(customer, conversation, text)
    assert sent.status_code == 200, sent.text
    run: dict[str, Any] = sent.json()["run"]
    if run["status"] == "awaiting_confirmation":
        return await answer(service, customer, conversation, run)
    return run
