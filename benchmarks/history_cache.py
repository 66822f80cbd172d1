"""How much of each model call's input is served from the prompt cache: over a 6-turn conversation, and over a
27-turn one whose history is trimmed.

The service (in-process, SQLite) talks to Claude through the official SDK, pointed at the strict fake Messages API
with prompt-cache accounting on (`testkit.fakes.prompt_cache`: cache reads and writes follow the breakpoints each
request carries, per model). Each turn of the first conversation looks an order up and answers, so it grows by a
tool call, its result and a reply per turn: 12 calls, on Claude Sonnet 4.6 and on Claude Sonnet 5 (which thinks by
default, so its answers carry thinking blocks). The second has a small history budget, so old turns are dropped:
it prints the calls that read no more than the tools and system prompt (a cache miss on the history) against the
number of times the cut moved. Exits non-zero if a target is missed.

    python benchmarks/history_cache.py

Targets: >= 80% of input tokens read from cache from the second call on; with trimming, no more history misses
than moves of the cut.
"""

from __future__ import annotations

import asyncio
import itertools
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from testkit.fakes.anthropic_api import FakeMessagesAPI, ReceivedRequest, TokenUsage, call, say
from testkit.service import anthropic_settings, running_service

CUSTOMER = "james_li_5688"
ORDERS = ("#W2611340", "#W3632959", "#W4435622", "#W3638028", "#W2611340", "#W3632959")
TARGET = 0.80


LONG_TURNS = 27
BUDGET = 1500


async def converse(api: FakeMessagesAPI, messages: list[str], **settings: Any) -> None:
    with tempfile.TemporaryDirectory() as directory:
        url = f"sqlite:///{Path(directory) / 'cache.sqlite3'}"
        everything = {
            "SUPPORT_CHAT_PER_MINUTE": 10**9,
            "SUPPORT_CONVERSATIONS_PER_HOUR": 0,
            **anthropic_settings(api.base_url),
            **settings,
        }
        async with running_service(url, **everything) as service:
            conversation = await service.new_conversation(CUSTOMER)
            for text in messages:
                answer = await service.say(CUSTOMER, conversation, text)
                assert answer.json()["run"]["status"] == "completed", answer.text


def breakpoints(request: ReceivedRequest) -> int:
    body = request.body
    marked = sum("cache_control" in tool for tool in body.get("tools", []))
    marked += sum("cache_control" in block for block in body.get("system", []))
    for message in body.get("messages", []):
        content = message["content"]
        marked += sum("cache_control" in block for block in content) if isinstance(content, list) else 0
    return int(marked)


def share_of(usage: TokenUsage) -> float:
    total = usage.input_tokens + usage.cache_read_input_tokens + usage.cache_creation_input_tokens
    return usage.cache_read_input_tokens / total


def short_conversation(model: str) -> list[int]:
    with FakeMessagesAPI(prompt_cache=True) as api:
        for order in ORDERS:
            api.add(call("get_order_details", {"order_id": order}), say(f"Order {order} is on its way."))
        asked = [f"What is the status of order {order}?" for order in ORDERS]
        asyncio.run(converse(api, asked, SUPPORT_MODEL=f"anthropic:{model}"))
        api.assert_done()
        print(f"prompt cache over a 6-turn conversation on {model} (1 tool call per turn: 12 model calls)")
        print("  call  input  cache read  cache write  cached share  breakpoints")
        below = []
        for number, (request, usage) in enumerate(zip(api.requests, api.usages, strict=True), start=1):
            print(
                f"  {number:4}  {usage.input_tokens:5}  {usage.cache_read_input_tokens:10}  "
                f"{usage.cache_creation_input_tokens:11}  {share_of(usage):12.0%}  {breakpoints(request):11}"
            )
            if number > 1 and share_of(usage) < TARGET:
                below.append(number)
    print(f"  target: >= {TARGET:.0%} from the second call on")
    return below


def omission_note(request: ReceivedRequest) -> str:
    first = request.body["messages"][0]["content"][0]
    return str(first["text"]) if first["text"].startswith("[Earlier") else ""


def trimmed_conversation(model: str) -> tuple[int, int]:
    """The calls after the first that read less than 90% of what the call before sent, and the moves of the cut."""
    with FakeMessagesAPI(prompt_cache=True) as api:
        api.add(*(say(f"Noted, point {n}.") for n in range(LONG_TURNS)))
        asked = [f"point {n}: " + "a long remark " * 40 for n in range(LONG_TURNS)]
        asyncio.run(converse(api, asked, SUPPORT_MODEL=f"anthropic:{model}", SUPPORT_CONTEXT_TOKENS=BUDGET))
        api.assert_done()
        notes = [omission_note(r) for r in api.requests]
        usages = api.usages
    moves = sum(1 for before, after in itertools.pairwise(notes) if before != after)
    misses = sum(
        1
        for before, after in itertools.pairwise(usages)
        if after.cache_read_input_tokens < 0.9 * (before.cache_read_input_tokens + before.cache_creation_input_tokens)
    )
    shares = [f"{share_of(u):.0%}" for u in usages]
    print(f"prompt cache over a {LONG_TURNS}-turn conversation on {model}, history budget {BUDGET} estimated tokens")
    print(f"  cached share per call: {' '.join(shares)}")
    print(f"  the cut moved {moves} times; calls that missed the history in cache: {misses} of {len(usages) - 1}")
    return misses, moves


def main() -> None:
    below = {model: short_conversation(model) for model in ("claude-sonnet-4-6", "claude-sonnet-5")}
    misses, moves = trimmed_conversation("claude-sonnet-5")
    print(f"  target: no more misses than moves of the cut ({misses} <= {moves})")
    failed = {model: calls for model, calls in below.items() if calls}
    if failed or misses > moves:
        sys.exit(f"history_cache: below the target: {failed}, misses {misses} > moves {moves}")


if __name__ == "__main__":
    main()
