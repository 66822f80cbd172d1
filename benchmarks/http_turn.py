"""One HTTP turn with a model that answers at once: the service against a bare pydantic-ai agent behind FastAPI.

Starts the fake Messages API (`benchmarks/load/fake_model.py`) with no delay, the service as operators run it
(`support serve` on a fresh PostgreSQL database, or SQLite with `--sqlite`; Claude through the official SDK
pointed at the fake) and the peer (`benchmarks/load/peer_app.py`, the `bench` extra), each with the same number
of workers (one by default). Then it sends one turn at a time, never two at once: this measures what a turn
costs, not how many fit in a second. After a warm-up, rounds of `--turns` turns a side: within a round the two
servers take a turn each in turn (the side going first alternates from round to round), so whatever else the
machine does lands on both alike. (Blocks of 20 turns a side were tried first: on a 2-core machine shared with
other work, a burst of that work often covered one side's block and not the other's, and the rounds' ratios
ranged from 0.8 to 2.2.) A server is idle during the other's turns, so its CPU over the round is its own turns'.

What each side does per turn (the fake answers the customer's message with a `get_order_details` call for the
order it names, and the tool's result with a one-sentence answer):

- service: `POST /v1/conversations/{id}/messages`, the first message of a conversation made before the round
  (so no history on either side). The bearer token is checked (remembered after its first use), the
  conversation claimed, a chat-limit token and the spend reserved, the message and run stored; two model calls;
  between them the tool call's arguments validated, the policy decided, the tool run against the database; then
  the run, its steps, the read's audit row and the reply stored and the conversation released. At most four
  statements on PostgreSQL (`benchmarks/turn_overhead.py` counts them), answered as the run's JSON.
- peer: the same request with the same token (which it ignores), `agent.run(content)`: two model calls, the tool
  answered from the seed data in memory; no authentication, limits, policy, persistence or history.

Both send Claude the same request on both calls: the same system prompt and 14 tool schemas (the service marks
them for prompt caching), `max_tokens` 1024, and a whole JSON message back, not a stream
(`service_requests.ANSWER_TOKENS`).

The driver is one aiohttp session per side with one kept-alive connection each, sending the same request and
reading the same way; its CPU per turn is printed for each side so a difference in the client shows. Per round
it prints the median wall time of a turn for each side and their ratio, and each server's CPU per turn (every
process of it, from /proc; for the service on PostgreSQL also the database server's, which a wall time includes
and a process tree does not: `benchmarks/load/cpu.py`); then the medians over the rounds, the
ratio of the medians, and the median and range of the rounds' ratios. The fake counts the model calls, so each
side's calls per turn are printed too.

    python benchmarks/http_turn.py [--rounds 20] [--turns 25] [--warmup 50] [--workers 1] [--sqlite] [--traced]

Target: the service's median turn at most 0.9x the peer's, on PostgreSQL with one worker each.

With `--traced` the other side is not the peer but a second service, on the same database, with tracing on as
operators turn it on (`OTEL_EXPORTER_OTLP_ENDPOINT`, here a collector stand-in in its own process,
`benchmarks/otlp_sink.py`): the ratio is what tracing costs a turn on Claude, the SDK's own span of each model call
included, and the server CPU counts the exporters' threads, which run in the worker. The database's CPU is not
shown then: both sides use it. Target: the traced turn at most 1.05x the untraced one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api.auth import mint_token
from benchmarks.load.cpu import postgres_cpu_s, process_tree_cpu_s
from benchmarks.load.launch import (
    PEER_HEALTH,
    SERVICE_HEALTH,
    fake_model_command,
    peer_command,
    peer_env,
    service_command,
    service_env,
)
from benchmarks.otlp_sink import OtlpSink
from benchmarks.throughput import SECRET, customers_with_orders, started
from testkit.databases import empty_postgres
from testkit.server import free_port

TARGET_RATIO = {"peer": 0.9, "untraced": 1.05}
"""The most the first side's median turn may take, as a multiple of the other's: the service against the peer, or
the traced service against the untraced one."""


@dataclass(frozen=True)
class Server:
    name: str
    url: str
    pid: int


@dataclass(frozen=True)
class Block:
    """One side's share of a round."""

    wall_ms: list[float]
    cpu_ms_per_turn: float
    database_cpu_ms_per_turn: float | None
    """The database server's CPU for the service on PostgreSQL; None where there is none to read."""
    driver_cpu_ms_per_turn: float
    model_calls_per_turn: float

    @property
    def median_ms(self) -> float:
        return statistics.median(self.wall_ms)


class TurnFailed(RuntimeError):
    pass


class Side:
    """One server and the driver's client for it: one kept-alive connection, customers whose tokens are minted
    once, and what its turns of the current round took."""

    def __init__(self, server: Server, database_cpu_s: Callable[[], float | None] | None = None) -> None:
        self.server = server
        self.database_cpu_s = database_cpu_s
        self.people = customers_with_orders()
        self.headers = {
            person: {"Authorization": f"Bearer {mint_token(SECRET, person, 'customer')}"} for person, _ in self.people
        }
        self.asked = 0
        self.http = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit_per_host=1), timeout=aiohttp.ClientTimeout(total=60)
        )
        self.waiting: list[tuple[str, str, str]] = []
        """(conversation, customer, message) for each turn of the round still to take."""
        self.wall_ms: list[float] = []
        self.driver_cpu_s = 0.0
        self.model_calls = 0
        self.cpu_before = self.database_before = 0.0

    async def close(self) -> None:
        await self.http.close()

    async def prepare(self, turns: int) -> None:
        """A new conversation for each of the round's turns, made before the round so that no turn carries history
        (the peer keeps none) and making one is not measured."""
        self.waiting = []
        for _ in range(turns):
            person, order = self.people[self.asked % len(self.people)]
            self.asked += 1
            async with self.http.post(f"{self.server.url}/v1/conversations", headers=self.headers[person]) as made:
                body: dict[str, Any] = await made.json()
            self.waiting.append((str(body["id"]), person, f"Where is my order {order}?"))
        self.wall_ms = []
        self.driver_cpu_s = 0.0
        self.model_calls = 0
        self.cpu_before = process_tree_cpu_s(self.server.pid)
        self.database_before = (self.database_cpu_s() or 0.0) if self.database_cpu_s else 0.0

    async def turn(self) -> None:
        conversation, person, content = self.waiting.pop()
        url = f"{self.server.url}/v1/conversations/{conversation}/messages"
        driver_before, started_at = time.process_time(), time.perf_counter()
        async with self.http.post(url, json={"content": content}, headers=self.headers[person]) as answer:
            body = await answer.read()
        run = (json.loads(body).get("run") or {}) if answer.status == 200 else {}
        self.wall_ms.append((time.perf_counter() - started_at) * 1000)
        self.driver_cpu_s += time.process_time() - driver_before
        if run.get("status") != "completed":
            raise TurnFailed(f"{self.server.name}: HTTP {answer.status} {body[:300]!r}")

    def block(self) -> Block:
        per_turn = 1000 / len(self.wall_ms)
        cpu = process_tree_cpu_s(self.server.pid) - self.cpu_before
        database = (
            None if self.database_cpu_s is None else ((self.database_cpu_s() or 0.0) - self.database_before) * per_turn
        )
        calls = self.model_calls / len(self.wall_ms)
        return Block(self.wall_ms, cpu * per_turn, database, self.driver_cpu_s * per_turn, calls)


class FakeModel:
    """The fake Messages API's count of the answers it gave: read after every turn, so each side's model calls
    per turn are known."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = aiohttp.ClientSession()
        self.answered = 0

    async def calls_since_last_read(self) -> int:
        async with self.http.get(f"{self.url}/stats") as answer:
            answered = int((await answer.json())["answered"])
        calls, self.answered = answered - self.answered, answered
        return calls

    async def close(self) -> None:
        await self.http.close()


async def play_round(sides: list[Side], turns: int, fake: FakeModel) -> dict[str, Block]:
    """`turns` turns a side, the sides taking one turn each in the order given. Each server is idle while the
    other works, so its CPU read over the whole round is its own turns' CPU; and whatever else the machine does
    during the round lands on both sides alike."""
    for side in sides:
        await side.prepare(turns)
    await fake.calls_since_last_read()
    for _ in range(turns):
        for side in sides:
            await side.turn()
            side.model_calls += await fake.calls_since_last_read()
    return {side.server.name: side.block() for side in sides}


def database_share(per_turn: list[float | None]) -> str:
    """The median of the database server's CPU per turn, as `(+ database x)`: for the service on PostgreSQL only."""
    known = [figure for figure in per_turn if figure is not None]
    return f" (+ database {statistics.median(known):4.2f})" if known else ""


def report_round(number: int, first: str, measured: Block, baseline: Block, names: tuple[str, str]) -> None:
    """`names`: the measured side's (the service, or the service traced) and the baseline's (the peer, or the
    service untraced)."""
    ours, theirs = names
    print(
        f"round {number:>2} ({first:8} first)  wall/turn: {ours} {measured.median_ms:6.2f} ms  {theirs} "
        f"{baseline.median_ms:6.2f} ms  ratio {measured.median_ms / baseline.median_ms:4.2f}   server CPU/turn: {ours} "
        f"{measured.cpu_ms_per_turn:5.2f} ms{database_share([measured.database_cpu_ms_per_turn])}  {theirs} "
        f"{baseline.cpu_ms_per_turn:5.2f} ms",
        flush=True,
    )


def summarise(measured: list[Block], baseline: list[Block], turns: int, names: tuple[str, str]) -> None:
    def median(blocks: list[Block], figure: Callable[[Block], float]) -> float:
        return statistics.median(figure(block) for block in blocks)

    def wall(block: Block) -> float:
        return block.median_ms

    def cpu(block: Block) -> float:
        return block.cpu_ms_per_turn

    ratios = sorted(wall(m) / wall(b) for m, b in zip(measured, baseline, strict=True))
    print(f"\nmedians over {len(measured)} rounds of {turns} turns a side")
    for name, blocks in zip(names, (measured, baseline), strict=True):
        every_turn = sorted(ms for block in blocks for ms in block.wall_ms)
        print(
            f"  {name:8}  wall {median(blocks, wall):6.2f} ms/turn (p90 of all turns "
            f"{every_turn[int(len(every_turn) * 0.9)]:6.2f} ms)  server CPU {median(blocks, cpu):5.2f} ms/turn"
            f"{database_share([block.database_cpu_ms_per_turn for block in blocks])}  driver CPU "
            f"{median(blocks, lambda b: b.driver_cpu_ms_per_turn):4.2f} ms/turn  model calls "
            f"{median(blocks, lambda b: b.model_calls_per_turn):.1f}/turn"
        )
    wall_ratio = median(measured, wall) / median(baseline, wall)
    cpu_ratio = median(measured, cpu) / max(median(baseline, cpu), 1e-9)
    with_database = median(measured, lambda b: b.cpu_ms_per_turn + (b.database_cpu_ms_per_turn or 0.0))
    database_ratio = f" (with the database's x{with_database / max(median(baseline, cpu), 1e-9):.2f})"
    target = TARGET_RATIO[names[1]]
    verdict = "met" if wall_ratio <= target else "NOT met"
    print(
        f"  {names[0]}/{names[1]}: wall x{wall_ratio:.2f} (the rounds' ratios: median {statistics.median(ratios):.2f}, "
        f"{ratios[0]:.2f} .. {ratios[-1]:.2f}), server CPU x{cpu_ratio:.2f}"
        f"{database_ratio if measured[0].database_cpu_ms_per_turn is not None else ''}; "
        f"target wall <= x{target}: {verdict}"
    )


async def compare(
    measured: Server,
    baseline: Server,
    fake_url: str,
    args: argparse.Namespace,
    database_cpu_s: Callable[[], float | None] | None,
) -> None:
    """`database_cpu_s` reads the database server's CPU for the measured side, when only that side uses it."""
    ours, theirs, fake = Side(measured, database_cpu_s), Side(baseline), FakeModel(fake_url)
    names = (measured.name, baseline.name)
    try:
        await play_round([ours, theirs], args.warmup, fake)  # imports, pools, caches, the database's first pages
        measured_blocks, baseline_blocks = [], []
        for number in range(1, args.rounds + 1):
            order = [ours, theirs] if number % 2 else [theirs, ours]
            blocks = await play_round(order, args.turns, fake)
            measured_blocks.append(blocks[measured.name])
            baseline_blocks.append(blocks[baseline.name])
            report_round(number, order[0].server.name, measured_blocks[-1], baseline_blocks[-1], names)
        summarise(measured_blocks, baseline_blocks, args.turns, names)
    finally:
        for client in (ours, theirs, fake):
            await client.close()


@contextmanager
def database(sqlite: bool, scratch: Path) -> Iterator[str]:
    if sqlite:
        yield f"sqlite:///{scratch / 'http_turn.sqlite3'}"
        return
    with empty_postgres("bench_http_turn") as url:
        yield url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--turns", type=int, default=25, help="turns per side in each round")
    parser.add_argument("--warmup", type=int, default=50, help="turns per side before the first round")
    parser.add_argument("--workers", type=int, default=1, help="worker processes of the service and of the peer")
    parser.add_argument("--sqlite", action="store_true", help="the service on SQLite instead of PostgreSQL")
    parser.add_argument("--logs", type=Path, help="keep the service's, the fake's and the peer's logs here")
    parser.add_argument("--traced", action="store_true", help="the service traced against itself untraced, no peer")
    args = parser.parse_args()
    fake_port, service_port, peer_port = free_port(), free_port(), free_port()
    fake_url = f"http://127.0.0.1:{fake_port}"
    service_url, peer_url = f"http://127.0.0.1:{service_port}", f"http://127.0.0.1:{peer_port}"
    print(
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} before the run; model delay 0; service on "
        f"{'SQLite' if args.sqlite else 'PostgreSQL'}; {args.workers} worker(s) each; {args.rounds} rounds of "
        f"{args.turns} turns a side after {args.warmup} warm-up turns"
        + ("; the service traced (OTLP to a local sink) against itself untraced" if args.traced else ""),
        flush=True,
    )
    with tempfile.TemporaryDirectory() as scratch, database(args.sqlite, Path(scratch)) as database_url:
        logs = args.logs or Path(scratch)
        logs.mkdir(parents=True, exist_ok=True)
        with ExitStack() as running:
            running.enter_context(started(fake_model_command(fake_port, 0), {}, logs / "fake.log", f"{fake_url}/stats"))
            serve = service_command(service_port, args.workers)
            environment = service_env(database_url, fake_url, SECRET)
            service_health = service_url + SERVICE_HEALTH
            ours = running.enter_context(started(serve, environment, logs / "service.log", service_health))
            if args.traced:
                sink = running.enter_context(OtlpSink())
                # Read once the traced service has stopped, and so exported what it held (the stack unwinds in turn).
                running.callback(lambda: print(f"  the collector stand-in received {sink.counts()}", flush=True))
                serve = service_command(peer_port, args.workers)
                traced = {**environment, "OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint}
                theirs = running.enter_context(started(serve, traced, logs / "traced.log", peer_url + SERVICE_HEALTH))
                servers = Server("traced", peer_url, theirs.pid), Server("untraced", service_url, ours.pid)
                asyncio.run(compare(*servers, fake_url, args, None))  # both sides use the database
                return
            peer = peer_command(peer_port, args.workers)
            theirs = running.enter_context(started(peer, peer_env(fake_url), logs / "peer.log", peer_url + PEER_HEALTH))
            servers = Server("service", service_url, ours.pid), Server("peer", peer_url, theirs.pid)
            database_cpu_s = None if args.sqlite or postgres_cpu_s() is None else postgres_cpu_s
            asyncio.run(compare(*servers, fake_url, args, database_cpu_s))


if __name__ == "__main__":
    main()
