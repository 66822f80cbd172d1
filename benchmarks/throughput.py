"""Throughput under load: N conversations at once, 3 turns each, against a model that answers in 500 ms.

Starts a fake Messages API (`benchmarks/load/fake_model.py`, its own process), then the service as operators
run it (`support serve`, default workers, on a fresh PostgreSQL database, or with `--sqlite` on SQLite in one
process; Claude through the official SDK pointed at the fake; `benchmarks/load/launch.py`), and drives it over
HTTP. Each turn is one tool call and an answer: two model calls, so a
turn can take no less than 2 x the delay, and the ideal rate is N / (2 x delay) turns a second.

For each N it prints turns/s against that ideal, the latency the service adds to a turn (p50, p99), errors,
the service's CPU time per turn (all its processes, from /proc), the most connections the fake held at once,
the driver's and the fake's own CPU per turn (so a run shows neither set the pace), PostgreSQL's when it runs on
this host (it shares the same cores: a statement saved is CPU saved there too), and how many of the driver's
connections each worker held. With `--peer` the same load also goes to a bare pydantic-ai agent
(`benchmarks/load/peer_app.py`; needs the `bench` extra) and the ratio is printed. With `--floor` it also goes to
the least a server can do for the same turns (`benchmarks/load/floor_app.py`: the same two model calls with
bodies of nearly the same size, nothing else), which shows the ceiling the driver, the fake and the shared cores
leave on this machine, and the service's share of it is printed. A level lasts a few seconds, and one run of it
moves with whatever else the machine does: `--repeat R` runs each level R times, every repeat printed, the
servers' in turn (so a slow spell lands on all), then each one's medians and how far its repeats spread (the
ratios compare medians). Each server answers a few conversations before it is measured; `--fresh` starts it anew
for every repeat instead of once.

    python benchmarks/throughput.py [--levels 25,50,100,200] [--turns 3] [--delay 0.5] [--workers N] [--peer]
                                    [--floor] [--repeat R] [--sqlite] [--fresh]

Targets on 2 cores (which also run the driver and the fake), medians of at least 3 repeats and every repeat within
them: at N=200 on PostgreSQL, >= 170 turns/s, p99 added < 0.5 s, 0 errors, <= 5 ms of server CPU per turn (all
worker processes), and at least 2x the peer's turns/s; on SQLite, >= 120 turns/s and p99 added < 1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api.auth import mint_token
from benchmarks.load.cpu import postgres_cpu_s, process_tree, process_tree_cpu_s
from benchmarks.load.launch import (
    FLOOR_APP,
    PEER_HEALTH,
    SERVICE_HEALTH,
    fake_model_command,
    peer_command,
    peer_env,
    service_command,
    service_env,
)
from testkit.databases import empty_postgres
from testkit.server import free_port, sockets_on_port

ROOT = Path(__file__).resolve().parents[1]
SECRET = "throughput-benchmark-secret-0123456789abcdef"  # noqa: S105 - the benchmark's own throwaway service


@dataclass(frozen=True)
class Level:
    conversations: int
    turns: int
    seconds: float
    latencies: list[float]
    cpu_s: float
    fake_most_open: int
    failures: Counter[str]
    driver_cpu_s: float
    fake_cpu_s: float
    database_cpu_s: float | None
    """PostgreSQL's own processes on this host, for the level; None when none are seen (SQLite, another host)."""
    connections_per_worker: list[int]

    def turns_per_s(self) -> float:
        return self.turns / self.seconds

    @property
    def errors(self) -> int:
        return sum(self.failures.values())


def customers_with_orders() -> list[tuple[str, str]]:
    users = json.loads((ROOT / "fixtures" / "db.json").read_text())["users"]
    return [(user_id, user["orders"][0]) for user_id, user in users.items() if user.get("orders")]


@contextmanager
def started(command: list[str], env: dict[str, str], log: Path, health_url: str) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and scripts
            command, cwd=ROOT, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 180
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{command[2:4]} exited with {process.returncode}:\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(health_url, timeout=2).status_code < 500:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{command} did not come up:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)  # waiting for a process we started; bounded by the deadline
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            process.kill()


async def one_conversation(
    http: aiohttp.ClientSession,
    base_url: str,
    customer: str,
    order: str,
    turns: int,
    model_s: float,
    out: list[float],
    failures: Counter[str],
) -> None:
    """Counts why each failed turn failed in `failures`; appends each turn's added latency (seconds beyond the
    model's) to `out`."""
    headers = {"Authorization": f"Bearer {mint_token(SECRET, customer, 'customer')}"}
    try:
        async with http.post(f"{base_url}/v1/conversations", headers=headers) as created:
            conversation = (await created.json())["id"]
    except (aiohttp.ClientError, TimeoutError, ValueError, KeyError) as error:
        failures[f"new conversation: {type(error).__name__}"] += turns
        return
    for turn in range(turns):
        content = f"Where is my order {order}? (message {turn + 1})"
        started_at = time.perf_counter()
        try:
            url = f"{base_url}/v1/conversations/{conversation}/messages"
            async with http.post(url, json={"content": content}, headers=headers) as answer:
                body = await answer.text()
            run = json.loads(body).get("run") or {}
            why = (
                ""
                if answer.status == 200 and run.get("status") == "completed"
                else f"HTTP {answer.status} {run.get('status')} {run.get('error') or body[:160]}"
            )
        except (aiohttp.ClientError, TimeoutError, ValueError) as error:
            why = f"{type(error).__name__}: {error}"[:200]
        if not why:
            out.append(time.perf_counter() - started_at - model_s)
        else:
            failures[why] += 1


async def drive(
    base_url: str, pid: int, fake_url: str, n: int, turns: int, model_s: float, on_postgres: bool = False
) -> Level:
    """One level: `n` conversations at once (with `on_postgres`, PostgreSQL's CPU counted too). The driver is aiohttp,
    not httpx: at 200 connections httpx's pool took 0.6 of a core in this process, so the driver, not the service,
    set the pace."""
    people = customers_with_orders()
    latencies: list[float] = []
    failures: Counter[str] = Counter()
    connector = aiohttp.TCPConnector(limit=n + 10)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=120)) as http:
        async with http.get(f"{fake_url}/stats") as answer:
            fake_before = (await answer.json())["cpu_s"]
        cpu_before, driver_before = process_tree_cpu_s(pid), time.process_time()
        database_before = postgres_cpu_s() if on_postgres else None
        started_at = time.perf_counter()
        await asyncio.gather(
            *(
                one_conversation(http, base_url, *people[i % len(people)], turns, model_s, latencies, failures)
                for i in range(n)
            )
        )
        seconds = time.perf_counter() - started_at
        cpu, driver_cpu = process_tree_cpu_s(pid) - cpu_before, time.process_time() - driver_before
        database_after = postgres_cpu_s() if on_postgres else None
        database_cpu = None if database_before is None or database_after is None else database_after - database_before
        port = int(base_url.rsplit(":", 1)[1])
        shares = [sockets_on_port(member, port)["ESTABLISHED"] for member in process_tree(pid)]
        async with http.get(f"{fake_url}/stats") as answer:
            stats = await answer.json()
    return Level(
        n,
        n * turns,
        seconds,
        sorted(latencies),
        cpu,
        stats["most_open_connections"],
        failures,
        driver_cpu,
        stats["cpu_s"] - fake_before,
        database_cpu,
        [share for share in shares if share],
    )


def report(name: str, level: Level, model_s: float) -> None:
    ideal = level.conversations / model_s
    lat = level.latencies or [float("nan")]
    p99 = p99_of(level)
    print(
        f"{name:8} N={level.conversations:<4} {level.turns_per_s():6.1f} turns/s (ideal {ideal:5.0f}, "
        f"{level.turns_per_s() / ideal:4.0%})  added p50 {statistics.median(lat) * 1000:6.0f} ms  "
        f"p99 {p99 * 1000:6.0f} ms  errors {level.errors}  CPU/turn {level.cpu_s / level.turns * 1000:5.1f} ms  "
        f"connections per worker {'/'.join(map(str, level.connections_per_worker))}; "
        f"fake held <= {level.fake_most_open} connections; "
        f"driver {level.driver_cpu_s / level.turns * 1000:.1f} ms, fake {level.fake_cpu_s / level.turns * 1000:.1f} ms"
        + ("" if level.database_cpu_s is None else f", PostgreSQL {level.database_cpu_s / level.turns * 1000:.1f} ms")
        + " of CPU per turn",
        flush=True,
    )
    for why, count in level.failures.most_common(5):
        print(f"{'':8} {count} x {why}", flush=True)


@dataclass(frozen=True)
class Summary:
    """One level's figures over its repeats: the median of each (a level lasts seconds; one run of it is noisy)."""

    conversations: int
    turns_per_s: float
    p99_s: float
    cpu_per_turn_s: float
    errors: int


def p99_of(level: Level) -> float:
    latencies = level.latencies or [float("nan")]
    return latencies[max(0, int(len(latencies) * 0.99) - 1)]


def summarise(runs: list[Level]) -> Summary:
    return Summary(
        runs[0].conversations,
        statistics.median(run.turns_per_s() for run in runs),
        statistics.median(p99_of(run) for run in runs),
        statistics.median(run.cpu_s / run.turns for run in runs),
        sum(run.errors for run in runs),
    )


def variance(runs: list[Level]) -> str:
    """How far the repeats of one level spread: the range of turns/s and of the p99, and their relative spread."""
    rates = [run.turns_per_s() for run in runs]
    p99s = [p99_of(run) * 1000 for run in runs]
    spread = (max(rates) - min(rates)) / statistics.median(rates)
    return (
        f"turns/s {min(rates):.1f}-{max(rates):.1f} (spread {spread:.0%} of the median), "
        f"p99 {min(p99s):.0f}-{max(p99s):.0f} ms"
    )


def print_summary(name: str, runs: list[Level]) -> Summary:
    summary = summarise(runs)
    if len(runs) > 1:
        print(
            f"{name:8} N={summary.conversations:<4} median of {len(runs)}: {summary.turns_per_s:6.1f} turns/s, p99 "
            f"added {summary.p99_s * 1000:.0f} ms, CPU/turn {summary.cpu_per_turn_s * 1000:.1f} ms; "
            f"{summary.errors} errors in all; {variance(runs)}",
            flush=True,
        )
    return summary


@dataclass
class Target:
    """One server under load: its name, how to start it, and, once started, where it answers."""

    name: str
    command: list[str]
    env: dict[str, str]
    health: str
    port: int
    log: Path
    on_postgres: bool = False
    pid: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @contextmanager
    def running(self, fake_url: str, model_s: float) -> Iterator[Target]:
        with started(self.command, self.env, self.log, f"{self.url}{self.health}") as process:
            self.pid = process.pid
            asyncio.run(drive(self.url, self.pid, fake_url, WARM_UP, 1, model_s))  # imports, pools, caches
            yield self


WARM_UP = 20
"""Conversations of one turn each that a server answers before it is measured."""


def run_levels(targets: list[Target], fake_url: str, args: argparse.Namespace) -> dict[str, list[Summary]]:
    """Every level, each repeat of it on every target in turn (service, then peer, then the service again...), so a
    slow spell of the machine lands on both alike. With `--fresh` each repeat starts its server anew."""
    model_s = 2 * args.delay
    summaries: dict[str, list[Summary]] = {target.name: [] for target in targets}
    with ExitStack() as servers:
        if not args.fresh:
            for target in targets:
                servers.enter_context(target.running(fake_url, model_s))
        for n in args.levels:
            runs: dict[str, list[Level]] = {target.name: [] for target in targets}
            for _ in range(args.repeat):
                for target in targets:
                    with ExitStack() as fresh:
                        if args.fresh:
                            fresh.enter_context(target.running(fake_url, model_s))
                        level = asyncio.run(
                            drive(target.url, target.pid, fake_url, n, args.turns, model_s, target.on_postgres)
                        )
                    runs[target.name].append(level)
                    report(target.name, level, model_s)
            for target in targets:
                summaries[target.name].append(print_summary(target.name, runs[target.name]))
    return summaries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--levels", type=lambda s: [int(x) for x in s.split(",")], default=[25, 50, 100, 200])
    parser.add_argument("--turns", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=1, help="run each level this many times; compare medians")
    parser.add_argument("--delay", type=float, default=0.5)
    parser.add_argument("--workers", type=int, default=0, help="service workers (default: support serve's own)")
    parser.add_argument("--sqlite", action="store_true", help="the service on SQLite (one process) instead")
    parser.add_argument("--fresh", action="store_true", help="start each server anew for every repeat")
    parser.add_argument("--peer", action="store_true", help="also load a bare pydantic-ai agent and compare")
    parser.add_argument("--floor", action="store_true", help="also load the least server (the harness's ceiling)")
    parser.add_argument("--logs", type=Path, help="keep the servers' and the fake's logs here")
    args = parser.parse_args()
    fake_port = free_port()
    fake_url = f"http://127.0.0.1:{fake_port}"
    workers = args.workers or (1 if args.sqlite else os.cpu_count() or 1)
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} before the run; model delay {args.delay} s")
    with tempfile.TemporaryDirectory() as scratch, ExitStack() as stack:
        if args.sqlite:
            database_url = f"sqlite:///{Path(scratch) / 'throughput.sqlite3'}"
        else:
            database_url = stack.enter_context(empty_postgres("bench_tp"))
        logs = args.logs or Path(scratch)
        logs.mkdir(parents=True, exist_ok=True)
        fake = fake_model_command(fake_port, args.delay)
        stack.enter_context(started(fake, {}, logs / "fake.log", f"{fake_url}/stats"))
        service_port, peer_port, floor_port = free_port(), free_port(), free_port()
        service = service_command(service_port, args.workers)
        env = service_env(database_url, fake_url, SECRET)
        targets = [Target("service", service, env, SERVICE_HEALTH, service_port, logs / "service.log", not args.sqlite)]
        if args.peer:
            peer = peer_command(peer_port, workers)
            targets.append(Target("peer", peer, peer_env(fake_url), PEER_HEALTH, peer_port, logs / "peer.log"))
        if args.floor:
            floor = peer_command(floor_port, workers, FLOOR_APP)
            targets.append(Target("floor", floor, peer_env(fake_url), SERVICE_HEALTH, floor_port, logs / "floor.log"))
        print(
            f"service: support serve on {'SQLite' if args.sqlite else 'PostgreSQL'}, "
            f"{args.workers or 'default'} workers"
            + (f"; peer: pydantic-ai in one FastAPI route, {workers} workers, no persistence" if args.peer else "")
            + (f"; floor: two model calls a turn and nothing else, {workers} workers" if args.floor else "")
            + ("; a fresh server for every repeat" if args.fresh else "")
        )
        summaries = run_levels(targets, fake_url, args)
    for name in [target.name for target in targets[1:]]:
        for mine, other in zip(summaries["service"], summaries[name], strict=True):
            print(
                f"N={mine.conversations:<4} service/{name}: turns/s x{mine.turns_per_s / other.turns_per_s:.2f}, "
                f"CPU per turn x{mine.cpu_per_turn_s / max(other.cpu_per_turn_s, 1e-9):.2f}"
            )


if __name__ == "__main__":
    main()
