"""The throughput benchmark's floor: the least a server can do for the driver's turns, to show what the harness
itself allows on this machine.

Each message makes the same two model calls the service makes (a tool call, then the answer), with the same
system prompt, tool schemas, `max_tokens`, growing history and order record as the tool's result, so the fake
reads requests of nearly the same size (1-2% smaller); and nothing else: no auth, no storage, no policy, no SDK, no
validation. The prompt and tools are encoded once, the rest with the standard library, and the calls are made on
one aiohttp session per worker.

With every server's own work near zero, what is left between the floor and the ideal is the driver, the fake,
the 500 ms waits and how the conversations bunch on two shared cores: a server's turns/s is best read against
the floor's, measured in the same run (`throughput.py --floor`).

    ANTHROPIC_BASE_URL=http://127.0.0.1:8701 uvicorn benchmarks.load.floor_app:app --workers 2
"""

from __future__ import annotations

import json
import os
import uuid
from typing import Any

import aiohttp
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from agent.routing.prompt_versions import PromptVersions
from benchmarks.load.service_requests import ANSWER_TOKENS, MODEL, seed
from tools import registry

_live = PromptVersions.load(registry).live
_PREFIX = json.dumps({"system": _live.system, "tools": list(_live.tools)}, separators=(",", ":"))[1:-1]
_histories: dict[str, list[dict[str, Any]]] = {}
_session: aiohttp.ClientSession | None = None


async def _call(messages: list[dict[str, Any]]) -> dict[str, Any]:
    global _session
    if _session is None:  # made in the worker's own event loop, on its first call
        _session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    head = json.dumps({"model": MODEL, "max_tokens": ANSWER_TOKENS, "messages": messages})
    body = f"{head[:-1]},{_PREFIX}}}".encode()
    headers = {"content-type": "application/json", "x-api-key": "benchmark", "anthropic-version": "2023-06-01"}
    async with _session.post(f"{os.environ['ANTHROPIC_BASE_URL']}/v1/messages", data=body, headers=headers) as answer:
        return await answer.json()  # type: ignore[no-any-return]


def _record(arguments: dict[str, Any]) -> str:
    """The seed's order record the call asked for, as the service's tool hands it to the model (unchecked)."""
    return json.dumps(seed()["orders"].get(arguments.get("order_id"), {"error": "order not found"}))


async def create_conversation(_: Request) -> Response:
    conversation = f"conv_{uuid.uuid4().hex}"
    _histories[conversation] = []
    return JSONResponse({"id": conversation}, status_code=201)


async def post_message(request: Request) -> Response:
    history = _histories.setdefault(request.path_params["conversation_id"], [])
    history.append({"role": "user", "content": (await request.json())["content"]})
    while True:
        answer = await _call(history)
        history.append({"role": "assistant", "content": answer["content"]})
        calls = [block for block in answer["content"] if block["type"] == "tool_use"]
        if not calls:
            break
        results = [{"type": "tool_result", "tool_use_id": c["id"], "content": _record(c["input"])} for c in calls]
        history.append({"role": "user", "content": results})
    reply = "".join(block.get("text", "") for block in answer["content"])
    return JSONResponse({"run": {"status": "completed", "reply": reply}})


async def health(_: Request) -> Response:
    return JSONResponse({"status": "ok"})


app = Starlette(
    routes=[
        Route("/healthz", health),
        Route("/v1/conversations", create_conversation, methods=["POST"]),
        Route("/v1/conversations/{conversation_id}/messages", post_message, methods=["POST"]),
    ]
)
