"""One customer's worst message does not stall the server: `/livez` from another client answers within 100 ms
while three maximum-size pathological messages are being answered by the offline model, in a real server
process (one worker, as a replica runs)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx

from testkit.pathological_text import MAX_BYTES, sized
from testkit.server import ServerProcess
from testkit.service import bearer

CUSTOMERS = ("james_li_5688", "omar_kim_3528", "isabella_lopez_6490")
MESSAGES = (
    ("change my address to 1 Main St" + sized(", "))[:MAX_BYTES],
    ("cancel" + sized(" "))[: MAX_BYTES - 1] + "x",
    sized("change ship pay how "),
)
LIVEZ_LIMIT_S = 0.100
ATTEMPTS = 2
"""A second attempt when the first is over the limit: the machine is shared, and a neighbour's burst can stall
any process for a moment. A quadratic pattern stalls `/livez` for seconds, every time."""


async def send_and_watch(
    client: httpx.AsyncClient, messages: tuple[str, ...]
) -> tuple[list[float], list[httpx.Response]]:
    """Each customer's message in a new conversation of theirs, all at once; `/livez` asked again and again
    until every message is answered. Returns the `/livez` latencies and the answers."""
    conversations = []
    for customer in CUSTOMERS:
        created = await client.post("/v1/conversations", headers=bearer(customer))
        assert created.status_code == 201, created.text
        conversations.append(created.json()["id"])
    sending = [
        asyncio.create_task(
            client.post(f"/v1/conversations/{conversation}/messages", json={"content": text}, headers=bearer(customer))
        )
        for customer, conversation, text in zip(CUSTOMERS, conversations, messages, strict=True)
    ]
    latencies = []
    while not all(task.done() for task in sending):
        started = time.perf_counter()
        live = await client.get("/livez")
        latencies.append(time.perf_counter() - started)
        assert live.status_code == 200
    return latencies, list(await asyncio.gather(*sending))


async def test_livez_answers_within_100_ms_while_three_pathological_messages_are_answered(
    sqlite_url: str, tmp_path: Path
) -> None:
    server = ServerProcess(sqlite_url, tmp_path / "server.log").start()
    worst: list[float] = []
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            await send_and_watch(client, ("hello", "hello", "hello"))  # first-use costs are not the subject
            for _ in range(ATTEMPTS):
                latencies, answered = await send_and_watch(client, MESSAGES)
                for response in answered:
                    assert response.status_code == 200, response.text
                    assert response.json()["run"]["status"] in ("completed", "handed_off")
                assert latencies, "the messages were answered before /livez was asked once"
                worst.append(max(latencies))
                if worst[-1] < LIVEZ_LIMIT_S:
                    break
    finally:
        server.stop()
    assert min(worst) < LIVEZ_LIMIT_S, f"/livez took {[round(w * 1000) for w in worst]} ms at worst"
