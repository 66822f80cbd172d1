"""Soak: many conversations against a Messages API that fails 30% of the time, through the real SDK.

The service runs as in production: Claude (the official SDK, its own retries and timeouts) first, the offline
model as the last link of the fallback chain. The fake Messages API answers each request with a normal reply
or, with probability --fault-rate, one fault: 429 with retry-after, 529, 500, a dropped connection, a response
slower than the SDK's timeout, a stream cut mid-way, or a tool input that is not JSON. The script prints what
our API answered (any 5xx is a defect), every run's final status, and whether every customer message was stored.

    python benchmarks/soak.py [--conversations 200] [--fault-rate 0.3] [--concurrency 20] [--seed 7]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import logging
import random
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.models.claude.adapter import AnthropicModel
from agent.models.fallback import FallbackChain
from agent.models.offline import OfflineModel
from testkit import fixture_data
from testkit.fakes import anthropic_api as fake
from testkit.service import ServiceClient, bearer, running_service

SDK_TIMEOUT_S = 1.0
TURNS_PER_CONVERSATION = 2


def faults() -> list[tuple[str, fake.Answer]]:
    return [
        ("429", fake.http_error(429, "rate limited", retry_after=0.01)),
        ("529", fake.overloaded()),
        ("500", fake.http_error(500, "internal error", retry_after=0.01)),
        ("connection reset", fake.Disconnect()),
        ("timeout", fake.say("too slow", delay_s=SDK_TIMEOUT_S * 1.5)),
        ("cut mid-way", fake.say("this answer breaks off half-way", cut=fake.StreamCut(after_events=3, how="drop"))),
        (
            "invalid tool JSON",
            fake.Reply(
                content=(fake.ToolUse("get_order_details", raw_json=('{"order_id": ', "#W26}")),),
                stop_reason="tool_use",
            ),
        ),
    ]


class FaultyModelAPI:
    """Answers like a support model would (look the order up, then answer), failing at the given rate."""

    def __init__(self, rng: random.Random, fault_rate: float) -> None:
        self.rng = rng
        self.fault_rate = fault_rate
        self.injected: collections.Counter[str] = collections.Counter()
        self.requests = 0

    def __call__(self, body: dict[str, Any]) -> fake.Answer:
        self.requests += 1
        if self.rng.random() < self.fault_rate:
            label, fault = self.rng.choice(faults())
            self.injected[label] += 1
            return fault
        last = body["messages"][-1]
        content = last["content"] if isinstance(last["content"], list) else [{"type": "text", "text": last["content"]}]
        if any(block.get("type") == "tool_result" for block in content):
            return fake.say("Your order is on its way; the tracking number is in the details above.")
        text = " ".join(block.get("text", "") for block in content)
        order = re.search(r"#W\d{7}", text)
        if order is None:
            return fake.say("Could you tell me the order id?")
        return fake.call("get_order_details", {"order_id": order.group(0)})


async def converse(service: ServiceClient, customer: str, order_id: str, tally: dict[str, Any]) -> None:
    conversation = await service.new_conversation(customer)
    sent = []
    for turn in range(TURNS_PER_CONVERSATION):
        text = f"Where is my order {order_id}? (message {turn + 1})"
        answer = await service.say(customer, conversation, text)
        tally["http"][answer.status_code] += 1
        if answer.status_code == 200:
            sent.append(text)
            tally["status"][answer.json()["run"]["status"]] += 1
            tally["answered_by"][answer.json()["run"]["model"]["provider"]] += 1
    read = await service.http.get(f"/v1/conversations/{conversation}", headers=bearer(customer))
    stored = [m["content"] for m in read.json()["messages"] if m["role"] == "customer"]
    tally["lost"] += len([text for text in sent if text not in stored])
    tally["messages"] += len(sent)


async def soak(conversations: int, fault_rate: float, concurrency: int, seed: int) -> None:
    rng = random.Random(seed)
    orders = list(fixture_data.store()["orders"].values())[:conversations]
    tally: dict[str, Any] = {
        "http": collections.Counter(),
        "status": collections.Counter(),
        "answered_by": collections.Counter(),
        "lost": 0,
        "messages": 0,
    }
    script = FaultyModelAPI(rng, fault_rate)
    with tempfile.TemporaryDirectory() as directory, fake.FakeMessagesAPI() as api:
        api.add(*([script] * (conversations * TURNS_PER_CONVERSATION * 8)))
        url = f"sqlite:///{Path(directory) / 'soak.sqlite3'}"  # created and seeded at start-up
        claude = AnthropicModel(
            "claude-sonnet-4-6", api_key="soak", base_url=api.base_url, timeout_s=SDK_TIMEOUT_S, max_retries=2
        )
        chain = FallbackChain([claude, OfflineModel()])
        limit = asyncio.Semaphore(concurrency)

        async def one(order: dict[str, Any]) -> None:
            async with limit:
                await converse(service, order["user_id"], order["order_id"], tally)

        started = time.perf_counter()
        async with running_service(
            url, chain, SUPPORT_CHAT_PER_MINUTE=10_000, SUPPORT_CONVERSATIONS_PER_HOUR=0, SUPPORT_RUN_TIMEOUT_S=30
        ) as service:
            await asyncio.gather(*(one(order) for order in orders))
        elapsed = time.perf_counter() - started
    server_errors = sum(n for code, n in tally["http"].items() if code >= 500)
    print(
        f"soak: {len(orders)} conversations, {tally['messages']} messages, fault rate {fault_rate:.0%}, {elapsed:.1f} s"
    )
    print(
        f"  model API requests: {script.requests}, faults injected: {sum(script.injected.values())} "
        f"{dict(script.injected)}"
    )
    print(f"  HTTP statuses from our API: {dict(sorted(tally['http'].items()))}   5xx: {server_errors}")
    print(f"  runs by final status: {dict(tally['status'].most_common())}")
    print(f"  answered by: {dict(tally['answered_by'].most_common())}")
    print(f"  customer messages lost: {tally['lost']} of {tally['messages']}")


def main() -> None:
    logging.basicConfig(level=logging.ERROR)  # the chain logs every fallback; the totals below are the point
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=200)
    parser.add_argument("--fault-rate", type=float, default=0.3)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    asyncio.run(soak(args.conversations, args.fault_rate, args.concurrency, args.seed))


if __name__ == "__main__":
    main()
