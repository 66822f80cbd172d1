"""The app behind a real HTTP server (uvicorn) in the test's event loop, for streaming and disconnects."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, NamedTuple

import uvicorn
from fastapi import FastAPI

from testkit.server import free_port


class _Server(uvicorn.Server):
    """uvicorn with an event for "listening", so tests wait for it instead of polling."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = asyncio.Event()

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets=sockets)
        self.ready.set()


@asynccontextmanager
async def served(app: FastAPI, startup_timeout_s: float = 20.0) -> AsyncIterator[str]:
    port = free_port()
    server = _Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve())
    async with asyncio.timeout(startup_timeout_s):
        await server.ready.wait()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


def parse_sse(lines: list[str]) -> list[tuple[str, dict[str, Any]]]:
    """Server-Sent Events from the raw lines of a stream: (event, JSON data), comments and pings skipped."""
    import json

    events: list[tuple[str, dict[str, Any]]] = []
    name, data = "", []
    for line in [*lines, ""]:
        if not line:
            if name and data:
                events.append((name, json.loads("\n".join(data))))
            name, data = "", []
        elif line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].lstrip())
    return events


def parse_sse_ids(lines: list[str]) -> list[tuple[int | None, str, dict[str, Any]]]:
    """Like `parse_sse`, with each event's `id:` (None for events sent without one)."""
    import json

    events: list[tuple[int | None, str, dict[str, Any]]] = []
    ident: int | None = None
    name, data = "", []
    for line in [*lines, ""]:
        if not line:
            if name and data:
                events.append((ident, name, json.loads("\n".join(data))))
            ident, name, data = None, "", []
        elif line.startswith("id:"):
            ident = int(line[3:].strip())
        elif line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].lstrip())
    return events


class FeedEvent(NamedTuple):
    id: int | None
    event: str
    data: dict[str, Any]


async def sse_events(response: Any) -> AsyncIterator[FeedEvent]:
    """The events of an open `httpx` streaming response as they arrive (comments, pings and `retry:` skipped)."""
    import json

    ident: int | None = None
    name, data = "", []
    async for line in response.aiter_lines():
        if not line:
            if name and data:
                yield FeedEvent(ident, name, json.loads("\n".join(data)))
            ident, name, data = None, "", []
        elif line.startswith("id:"):
            ident = int(line[3:].strip())
        elif line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].lstrip())
