"""How the HTTP benchmarks start their processes: the fake Messages API, the service, the peer and the floor.

One place for the command lines and the service's environment, so every benchmark that compares the service with
the peer starts them the same way: the service as operators run it (`support serve`, Claude through the official
SDK pointed at the fake, the abuse limits lifted because a benchmark measures turns), and the peer served as
`support serve` serves (uvicorn, the same keep-alive, no access log).
"""

from __future__ import annotations

import sys

from benchmarks.load.service_requests import MODEL
from cli.main import KEEP_ALIVE_S

SERVICE_HEALTH = "/healthz"
PEER_HEALTH = "/docs"
"""The peer has no health route; FastAPI's docs page answers once the app is up."""


def fake_model_command(port: int, delay_s: float) -> list[str]:
    return [sys.executable, "benchmarks/load/fake_model.py", "--port", str(port), "--delay", str(delay_s)]


def service_command(port: int, workers: int) -> list[str]:
    """`support serve`; `workers` 0 leaves the count to the service (one per usable CPU, one on SQLite)."""
    command = [sys.executable, "-m", "cli.main", "serve", "--port", str(port)]
    return [*command, "--workers", str(workers)] if workers else command


def service_env(database_url: str, fake_url: str, jwt_secret: str) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "SUPPORT_JWT_SECRET": jwt_secret,
        "SUPPORT_MODEL": f"anthropic:{MODEL}",
        "ANTHROPIC_API_KEY": "benchmark",
        "ANTHROPIC_BASE_URL": fake_url,
        "SUPPORT_CHAT_PER_MINUTE": "1000000",  # this measures turns, not the abuse limits
        "SUPPORT_CONVERSATIONS_PER_HOUR": "0",
    }


PEER_APP = "benchmarks.load.peer_app:app"
FLOOR_APP = "benchmarks.load.floor_app:app"
"""The least a server can do for the same turns (`benchmarks/load/floor_app.py`), served as the peer is."""


def peer_command(port: int, workers: int, app: str = PEER_APP) -> list[str]:
    """The peer (`benchmarks/load/peer_app.py`), or another app served the same way, with the service's keep-alive
    (`cli.main.KEEP_ALIVE_S`)."""
    return [
        sys.executable,
        "-m",
        "uvicorn",
        app,
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--no-access-log",
        "--log-level",
        "warning",
        "--timeout-keep-alive",
        str(KEEP_ALIVE_S),
    ]


def peer_env(fake_url: str) -> dict[str, str]:
    return {"ANTHROPIC_BASE_URL": fake_url}
