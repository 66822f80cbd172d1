"""How long a stored event takes to reach a client holding the conversation feed open, and what the feed costs
the database while it waits.

`--clients` feed connections are opened on as many conversations; then, one conversation at a time, a customer
message is sent (JSON) and the time from its answer to the arrival of that turn's `run.completed` on the feed is
measured. The feed is read by one poller per process, every `SUPPORT_FEED_POLL_SECONDS` (0.5 s by default), so
the expected latency is about half the interval on average and at most one interval, however many clients wait.
Offline model, in-process server (uvicorn), SQLite unless `--database-url` is given.

    python benchmarks/feed_latency.py [--turns 20] [--clients 50] [--database-url postgresql://...]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api.app import create_app
from testkit.http_server import served, sse_events
from testkit.service import bearer, service_settings

CUSTOMER = "james_li_5688"


async def measure(database_url: str, turns: int, clients: int) -> None:
    app = create_app(service_settings(database_url, SUPPORT_CHAT_PER_MINUTE=10**9, SUPPORT_CONVERSATIONS_PER_HOUR=0))
    async with served(app) as url, httpx.AsyncClient(base_url=url, timeout=60) as http:
        conversations = [
            (await http.post("/v1/conversations", headers=bearer(CUSTOMER))).json()["id"] for _ in range(clients)
        ]
        arrived: dict[str, asyncio.Queue[float]] = {c: asyncio.Queue() for c in conversations}

        async def hold_open(conversation: str) -> None:
            async with http.stream(
                "GET", f"/v1/conversations/{conversation}/events", headers=bearer(CUSTOMER)
            ) as response:
                async for event in sse_events(response):
                    if event.event == "run.completed":
                        arrived[conversation].put_nowait(time.perf_counter())

        readers = [asyncio.create_task(hold_open(c)) for c in conversations]
        hub = app.state.services.feed
        polls_before, started = hub.polls, time.perf_counter()
        latencies = []
        for turn in range(turns):
            conversation = conversations[turn % clients]
            answered = await http.post(
                f"/v1/conversations/{conversation}/messages",
                json={"content": "Where is my order #W2611340?"},
                headers=bearer(CUSTOMER),
            )
            assert answered.status_code == 200, answered.text
            sent = time.perf_counter()
            latencies.append((await asyncio.wait_for(arrived[conversation].get(), 10) - sent) * 1000)
        elapsed = time.perf_counter() - started
        for reader in readers:
            reader.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
    latencies.sort()
    print(f"conversation feed, {clients} open clients, {turns} turns, poll every {hub.interval_s:g} s")
    print(
        f"  answer -> run.completed on the feed: median {statistics.median(latencies):.0f} ms, "
        f"max {latencies[-1]:.0f} ms"
    )
    print(f"  feed reads of the database: {(hub.polls - polls_before) / elapsed:.1f} per second for all clients")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    if args.database_url:
        asyncio.run(measure(args.database_url, args.turns, args.clients))
        return
    with tempfile.TemporaryDirectory() as directory:
        asyncio.run(measure(f"sqlite:///{Path(directory) / 'feed.sqlite3'}", args.turns, args.clients))


if __name__ == "__main__":
    main()
