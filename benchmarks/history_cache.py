"""How much of each model call's input is served from the prompt cache over a 6-turn conversation.

The service (in-process, SQLite) talks to Claude through the official SDK, pointed at the fake Messages API with
prompt-cache accounting on (`tests.fakes.prompt_cache`: cache reads and writes follow the breakpoints each
request carries). Each turn looks an order up and answers, so the conversation grows by a tool call, its
result and a reply per turn: 12 calls. Prints per call the input, cache-read and cache-write tokens and the
cached share (read / all input), and exits non-zero if a call after the first is below the target.

    python benchmarks/history_cache.py

Target: >= 80% of input tokens read from cache from the second call on.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fakes.anthropic_api import FakeMessagesAPI, ReceivedRequest, call, say
from tests.support.service import anthropic_settings, running_service

CUSTOMER = "james_li_5688"
ORDERS = ("#W2611340", "#W3632959", "#W4435622", "#W3638028", "#W2611340", "#W3632959")
TARGET = 0.80


async def converse(api: FakeMessagesAPI) -> None:
    with tempfile.TemporaryDirectory() as directory:
        url = f"sqlite:///{Path(directory) / 'cache.sqlite3'}"
        async with running_service(
            url, SUPPORT_CHAT_PER_MINUTE=10**9, SUPPORT_CONVERSATIONS_PER_HOUR=0, **anthropic_settings(api.base_url)
        ) as service:
            conversation = await service.new_conversation(CUSTOMER)
            for order in ORDERS:
                answer = await service.say(CUSTOMER, conversation, f"What is the status of order {order}?")
                assert answer.json()["run"]["status"] == "completed", answer.text


def breakpoints(request: ReceivedRequest) -> int:
    body = request.body
    marked = sum("cache_control" in tool for tool in body.get("tools", []))
    marked += sum("cache_control" in block for block in body.get("system", []))
    for message in body.get("messages", []):
        content = message["content"]
        marked += sum("cache_control" in block for block in content) if isinstance(content, list) else 0
    return int(marked)


def main() -> None:
    with FakeMessagesAPI(prompt_cache=True) as api:
        for order in ORDERS:
            api.add(call("get_order_details", {"order_id": order}), say(f"Order {order} is on its way."))
        asyncio.run(converse(api))
        api.assert_done()
        print("prompt cache over a 6-turn conversation (1 tool call per turn: 12 model calls)")
        print("  call  input  cache read  cache write  cached share  breakpoints")
        below = []
        for number, (request, usage) in enumerate(zip(api.requests, api.usages, strict=True), start=1):
            total = usage.input_tokens + usage.cache_read_input_tokens + usage.cache_creation_input_tokens
            share = usage.cache_read_input_tokens / total
            print(
                f"  {number:4}  {usage.input_tokens:5}  {usage.cache_read_input_tokens:10}  "
                f"{usage.cache_creation_input_tokens:11}  {share:12.0%}  {breakpoints(request):11}"
            )
            if number > 1 and share < TARGET:
                below.append(number)
    print(f"  target: >= {TARGET:.0%} from the second call on")
    if below:
        sys.exit(f"history_cache: calls {below} are below the target")


if __name__ == "__main__":
    main()
