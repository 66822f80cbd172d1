"""`./dev container-check`: the image, built and run for real on whatever engine this machine has (podman or docker).

    build       the Dockerfile as it is (podman with --format docker, which keeps the HEALTHCHECK)
    start       on SQLite (no DATABASE_URL), its /app/var on a named volume, HOST=:: (IPv6 and IPv4)
    seed        `support seed` in the running container: the store and the help centre, from the package
    healthy     the image's own HEALTHCHECK passes within its start period
    a turn      a customer's question over HTTP through the published port, answered from the seeded store
    stop        SIGTERM, and the container exits 0 well within the engine's stop timeout
    layers      the image's layers and their sizes, newest first

Settings from the environment: CONTAINER_ENGINE (default: podman, else docker), CONTAINER_NETWORK=host (run on
the host's network, on a free PORT, where a published port does not reach 127.0.0.1), PYTHON_BASE (a base image to
build on instead of the pinned python:3.11-slim, e.g. one made by docker/local-base.sh), EXTRAS (e.g. `evals`:
also plays one golden case inside the container), CONTAINER_BUILD_OPTS and CONTAINER_RUN_OPTS (extra options for
`build` and `run`, split on spaces). It uses the standard library only, so any python3 can run it.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shlex
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
IMAGE = "support-agent:check"
NAME = f"support-check-{os.getpid()}"
VOLUME = f"{NAME}-var"
STOP_TIMEOUT_S = 10
"""The engines' default `stop` timeout: past it they send SIGKILL, so a clean stop has to come sooner."""


def engine() -> str:
    chosen = os.environ.get("CONTAINER_ENGINE") or shutil.which("podman") or shutil.which("docker")
    if not chosen:
        sys.exit("container-check: needs podman or docker on this machine")
    return chosen


ENGINE = engine()
IS_PODMAN = Path(ENGINE).name.startswith("podman")


def run(*command: str, check: bool = True, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(  # noqa: S603 - the engine found on PATH, with arguments this script builds
        [ENGINE, *command], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and done.returncode != 0:
        sys.exit(f"container-check: {' '.join(command[:3])} failed:\n{done.stdout[-4000:]}{done.stderr[-4000:]}")
    return done


def step(text: str) -> None:
    print(f"== {text}", flush=True)


def healthcheck_seconds() -> dict[str, float]:
    line = next(line for line in (ROOT / "Dockerfile").read_text().splitlines() if line.startswith("HEALTHCHECK"))
    units = {"ms": 0.001, "s": 1.0, "m": 60.0}
    found = re.findall(r"--([\w-]+)=(\d+)(ms|s|m)?", line)
    return {name: float(value) * units.get(unit or "s", 1.0) for name, value, unit in found}


def build() -> float:
    options = ["--format", "docker"] if IS_PODMAN else []
    if base := os.environ.get("PYTHON_BASE"):
        options += ["--build-arg", f"PYTHON_BASE={base}"]
    if extras := os.environ.get("EXTRAS"):
        options += ["--build-arg", f"EXTRAS={extras}"]
    options += shlex.split(os.environ.get("CONTAINER_BUILD_OPTS", ""))
    started = time.monotonic()
    run("build", *options, "-t", IMAGE, str(ROOT))
    return time.monotonic() - started


def inspect_image() -> dict[str, Any]:
    described: list[dict[str, Any]] = json.loads(run("image", "inspect", IMAGE).stdout)
    return described[0]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def request(url: str, token: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    data = json.dumps(body).encode() if body is not None else b""
    sent = urllib.request.Request(  # noqa: S310 - a local http URL this script built
        url, data=data, method="POST", headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    )
    with urllib.request.urlopen(sent, timeout=60) as answer:  # noqa: S310
        loaded: dict[str, Any] = json.loads(answer.read())
        return loaded


def wait_healthy(limit_s: float) -> float:
    """Seconds until the image's HEALTHCHECK passes, run by the engine itself."""
    started = time.monotonic()
    while time.monotonic() - started < limit_s:
        if IS_PODMAN:  # podman runs health checks from systemd timers; `healthcheck run` runs the same check now
            if run("healthcheck", "run", NAME, check=False).returncode == 0:
                return time.monotonic() - started
        else:
            status = run("inspect", "--format", "{{.State.Health.Status}}", NAME, check=False).stdout.strip()
            if status == "healthy":
                return time.monotonic() - started
        if run("inspect", "--format", "{{.State.Running}}", NAME).stdout.strip() != "true":
            sys.exit(f"container-check: the container stopped:\n{run('logs', NAME, check=False).stderr[-4000:]}")
        time.sleep(0.5)
    sys.exit(f"container-check: not healthy within {limit_s:g} s:\n{run('logs', NAME, check=False).stderr[-4000:]}")


def layers() -> list[tuple[str, str]]:
    history = run("history", "--no-trunc", "--format", "{{.Size}}\t{{.CreatedBy}}", IMAGE).stdout
    return [tuple(line.split("\t", 1)) for line in history.splitlines() if "\t" in line]  # type: ignore[misc]


def main() -> None:
    print(f"engine: {ENGINE} ({run('--version').stdout.strip()})")
    step("build")
    print(f"built {IMAGE} in {build():.0f} s")
    described = inspect_image()
    kept = described.get("Config", {}).get("Healthcheck") or described.get("Healthcheck")  # docker's place, podman's
    assert kept, "the image lost its HEALTHCHECK (podman: build with --format docker)"
    health = healthcheck_seconds()
    port = free_port()
    secret = secrets.token_urlsafe(48)
    run("volume", "create", VOLUME)
    try:
        step("start on SQLite, HOST=::, /app/var on a named volume")
        run_options = shlex.split(os.environ.get("CONTAINER_RUN_OPTS", ""))
        if os.environ.get("CONTAINER_NETWORK") == "host":  # where published ports do not reach the host's loopback
            network = ["--network", "host", "-e", f"PORT={port}"]
        else:
            network = ["-p", f"127.0.0.1:{port}:8000"]
        run(
            "run", "-d", "--name", NAME, *network, "-v", f"{VOLUME}:/app/var",
            "-e", f"SUPPORT_JWT_SECRET={secret}", "-e", "HOST=::", *run_options, IMAGE,
        )  # fmt: skip
        seconds = wait_healthy(health["start-period"])
        print(f"healthy after {seconds:.1f} s (start period {health['start-period']:g} s)")
        step("seed")
        seeded = run("exec", NAME, "support", "seed")
        print(seeded.stdout.strip())
        step("answer a turn")
        token = run("exec", NAME, "support", "token", "james_li_5688").stdout.strip()
        base = f"http://127.0.0.1:{port}"
        conversation = request(f"{base}/v1/conversations", token)["id"]
        turn = request(
            f"{base}/v1/conversations/{conversation}/messages", token, {"content": "Where is my order #W2611340?"}
        )
        run_ = turn["run"]
        assert run_["status"] == "completed" and "#W2611340" in run_["reply"], turn
        print(f"{run_['status']}: {run_['reply'][:160]}")
        probe = "import os, urllib.request as u; u.urlopen(f\"http://[::1]:{os.environ['PORT']}/readyz\")"
        ipv6 = run("exec", NAME, "python", "-c", probe, check=False)
        print(
            "IPv6 loopback inside the container:", "answers" if ipv6.returncode == 0 else "not available (IPv4 served)"
        )
        if os.environ.get("EXTRAS", "") and "evals" in os.environ["EXTRAS"].split(","):
            step("one golden case inside the container (EXTRAS=evals)")
            golden = ["--model", "offline", "--tasks", "golden", "--task", "status_of_shipped_order"]
            played = run("exec", "-w", "/home/support", NAME, "support", "eval", *golden, "--out", "report")
            print(played.stderr.strip().splitlines()[-1])
        step("stop")
        started = time.monotonic()
        run("stop", "-t", str(STOP_TIMEOUT_S), NAME)
        stopped_in = time.monotonic() - started
        exit_code = run("inspect", "--format", "{{.State.ExitCode}}", NAME).stdout.strip()
        print(f"stopped in {stopped_in:.1f} s, exit code {exit_code}")
        assert exit_code == "0" and stopped_in < STOP_TIMEOUT_S, "not a clean stop: SIGTERM should drain and exit"
        state = run("run", "--rm", "-v", f"{VOLUME}:/app/var", *run_options, "--entrypoint", "ls", IMAGE, "/app/var")
        assert "support.sqlite3" in state.stdout, "the SQLite file is not on the volume"
        print("the SQLite file outlives the container, on the volume")
    finally:
        run("rm", "-f", NAME, check=False)
        run("volume", "rm", "-f", VOLUME, check=False)
    step(f"layers of {IMAGE}, newest first")
    for size, created_by in layers():
        print(f"{size:>10}  {created_by[-110:]}")
    print("container-check: passed")


if __name__ == "__main__":
    main()
