"""A long conversation on Claude stays valid and cheap: every request accepted, and each call reading what the
previous one wrote from the prompt cache.

Through the chat API, the real SDK and the strict fake Messages API with its prompt cache, which counts cache
reads and writes from the breakpoints each request carries, per model, with the model's minimum cacheable length
(`testkit.fakes.prompt_cache`). The runs record what the API reported.
"""

from __future__ import annotations

import itertools
from typing import Any

from testkit.fakes.anthropic_api import FakeMessagesAPI, TokenUsage, call, say
from testkit.service import ServiceClient, anthropic_settings, bearer, running_service

JAMES = "james_li_5688"
THINKS = "claude-sonnet-5"
ADDRESS = {
    "address1": "12 Elm Street",
    "address2": "Apt 3",
    "city": "Springfield",
    "state": "IL",
    "country": "USA",
    "zip": "62701",
}


def shown(usage: TokenUsage) -> int:
    return usage.input_tokens + usage.cache_read_input_tokens + usage.cache_creation_input_tokens


async def say_as_james(service: ServiceClient, conversation: str, text: str) -> dict[str, Any]:
    answer = await service.say(JAMES, conversation, text)
    assert answer.status_code == 200, answer.text
    run: dict[str, Any] = answer.json()["run"]
    return run


async def confirm(service: ServiceClient, conversation: str, run: dict[str, Any]) -> dict[str, Any]:
    assert run["status"] == "awaiting_confirmation", run
    path = f"/v1/conversations/{conversation}/confirmations/{run['pending_confirmation']['id']}"
    answer = await service.http.post(path, json={"decision": "confirm"}, headers=bearer(JAMES))
    assert answer.status_code == 200, answer.text
    confirmed: dict[str, Any] = answer.json()["run"]
    return confirmed


async def approve(service: ServiceClient, run: dict[str, Any]) -> dict[str, Any]:
    assert run["status"] == "awaiting_approval", run
    path = f"/v1/approvals/{run['pending_action']['approval_id']}/approve"
    answer = await service.http.post(path, json={"note": "late delivery, fine"}, headers=bearer("agent_alice", "agent"))
    assert answer.status_code == 200, answer.text
    approved: dict[str, Any] = answer.json()["run"]
    return approved


async def test_fourteen_turns_on_a_thinking_model_are_accepted_and_read_from_cache(sqlite_url: str) -> None:
    """Tool calls, a confirmation, an approval and a hand-off on Claude Sonnet 5 (thinking by default): no request
    refused, and from the third call on at least 80% of each call's input read from cache."""
    with FakeMessagesAPI(prompt_cache=True) as api:
        settings = {**anthropic_settings(api.base_url), "SUPPORT_MODEL": f"anthropic:{THINKS}"}
        async with running_service(sqlite_url, **settings, SUPPORT_CHAT_PER_MINUTE=100) as service:
            conversation = await service.new_conversation(JAMES)
            turn = [
                ("Hi there", [say("Hello! How can I help you today?")]),
                (
                    "Where is my order #W2611340?",
                    [call("get_order_details", {"order_id": "#W2611340"}), say("It is processed and ships soon.")],
                ),
                (
                    "And #W3632959?",
                    [call("get_order_details", {"order_id": "#W3632959"}), say("That one is processed too.")],
                ),
                (
                    "What is your returns policy?",
                    [call("search_help_centre", {"query": "returns policy"}), say("Returns are accepted in 30 days.")],
                ),
                (
                    "Please change my default address to 12 Elm Street, Springfield.",
                    [call("modify_customer_address", ADDRESS)],
                ),
                (
                    "Order #W2611340 came late; may I have $60 back?",
                    [call("issue_refund", {"order_id": "#W2611340", "amount": 60, "reason": "late delivery"})],
                ),
                ("What is on my profile?", [call("get_customer_profile"), say("Your profile has one gift card.")]),
                ("What do you sell?", [call("list_product_types"), say("Bottles, chairs, and more.")]),
                ("Which of my orders were delivered?", [say("#W4435622 and #W3638028 were delivered.")]),
                (
                    "Show me #W4435622",
                    [call("get_order_details", {"order_id": "#W4435622"}), say("It was delivered last week.")],
                ),
                (
                    "And #W3638028?",
                    [call("get_order_details", {"order_id": "#W3638028"}), say("Delivered too.")],
                ),
                (
                    "How do exchanges work?",
                    [call("search_help_centre", {"query": "exchanges"}), say("Exchanges go to the same product.")],
                ),
                ("Ok, thanks.", [say("Glad to help.")]),
                (
                    "I need a person about a missing item.",
                    [call("transfer_to_human_agents", {"summary": "Customer reports a missing item."})],
                ),
            ]
            statuses = []
            for text, answers in turn:
                api.add(*answers)
                run = await say_as_james(service, conversation, text)
                if "address" in text:  # the change waits for the customer, then the model tells them it is done
                    api.add(say("Done: your address is updated."))
                    run = await confirm(service, conversation, run)
                if "$60" in text:  # confirmed, then over the auto tier: a support agent approves
                    run = await confirm(service, conversation, run)
                    api.add(say("Approved: $60 is on its way back to your gift card."))
                    run = await approve(service, run)
                statuses.append(run["status"])
            handoff = await service.http.get("/v1/handoffs", headers=bearer("agent_alice", "agent"))
        api.assert_done()  # no request refused, every scripted answer used
        usages = api.usages
    assert statuses[-1] == "handed_off" and statuses.count("completed") == 13, statuses
    assert [h["conversation_id"] for h in handoff.json()] == [conversation]
    assert all(r.body["model"] == THINKS and "thinking" not in r.body for r in api.requests)
    assert all(r.body["messages"][-1]["role"] == "user" for r in api.requests)
    assert len(usages) == 24  # one or two calls a turn, and one in each run resumed after a decision
    shares = [u.cache_read_input_tokens / shown(u) for u in usages]
    assert min(shares[2:]) >= 0.8, [round(s, 2) for s in shares]
    print(f"14 turns, {len(usages)} calls; cache shares: {[round(s, 2) for s in shares]}")


async def test_a_trimmed_history_misses_the_cache_only_when_the_cut_moves(sqlite_url: str) -> None:
    """With a small history budget the oldest turns are dropped in steps: the omission note, and so every
    request's start, changes only when the cut moves, and only those calls read no more than the tools and system
    prompt from cache."""
    with FakeMessagesAPI(prompt_cache=True) as api:
        settings = {**anthropic_settings(api.base_url), "SUPPORT_CONTEXT_TOKENS": 1500, "SUPPORT_CHAT_PER_MINUTE": 100}
        async with running_service(sqlite_url, **settings) as service:
            conversation = await service.new_conversation(JAMES)
            for number in range(27):
                api.add(say(f"Noted, point {number}."))
                await say_as_james(service, conversation, f"point {number}: " + "a long remark " * 40)
        api.assert_done()
        usages, requests = api.usages, api.requests
    notes = [
        next((b["text"] for b in r.body["messages"][0]["content"] if b["text"].startswith("[Earlier")), None)
        for r in requests
    ]
    moves = sum(1 for before, after in itertools.pairwise(notes) if before != after)
    # A miss: a call that did not read back most of what the call before it sent.
    misses = [
        i
        for i, (before, after) in enumerate(itertools.pairwise(usages), start=1)
        if after.cache_read_input_tokens < 0.9 * (before.cache_read_input_tokens + before.cache_creation_input_tokens)
    ]
    assert 2 <= moves <= 8, notes
    assert len(misses) <= moves, (misses, moves)
    print(f"27 calls, the cut moved {moves} times; calls reading only the tools and system prompt: {len(misses)}")
