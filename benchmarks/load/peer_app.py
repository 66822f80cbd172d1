"""The throughput benchmark's peer: a bare pydantic-ai agent behind one FastAPI route, with the service's tool
schemas, system prompt and `max_tokens`, and nothing else (no auth, no persistence, no policy, no audit, no budgets).

It answers the same requests as the service (`POST /v1/conversations`, `POST /v1/conversations/{id}/messages`)
so the same driver loads both. Its tools return the store's seed record without any check, which is all a
benchmark of the agent framework needs. Needs the `bench` extra: `pip install -e '.[bench]'`.

    ANTHROPIC_BASE_URL=http://127.0.0.1:8701 uvicorn benchmarks.load.peer_app:app --workers 2
"""

from __future__ import annotations

import os
import uuid
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel
from pydantic_ai import Agent, Tool
from pydantic_ai.models.anthropic import AnthropicModel, AnthropicModelSettings
from pydantic_ai.providers.anthropic import AnthropicProvider

from agent.routing.prompt_versions import PromptVersions
from benchmarks.load.service_requests import ANSWER_TOKENS, MODEL, seed
from tools import registry

# The peer asks for the service's `max_tokens` (`service_requests.ANSWER_TOKENS`). Left to pydantic-ai, it asks for
# the model's whole output (128,000 tokens on Sonnet 4.6), which the Anthropic SDK will only send as a stream: the
# peer then read every answer as server-sent events where the service reads one JSON message, and took about 2 ms
# more wall and CPU time per zero-latency turn of two model calls (16 ms against 18 ms, one turn each in turn, one
# worker each). With the same `max_tokens` both send the same request.


def record_tool(name: str) -> Any:
    """A tool that answers from the seed data: an order or a product when asked for one, else a fixed note."""

    async def tool(**arguments: Any) -> Any:
        if "order_id" in arguments:
            return seed()["orders"].get(arguments["order_id"], {"error": "order not found"})
        if "product_id" in arguments:
            return seed()["products"].get(arguments["product_id"], {"error": "product not found"})
        return {"tool": name, "done": True}

    return tool


def build_agent() -> Agent[None, str]:
    prompt = PromptVersions.load(registry).live  # what the service itself sends
    tools = [
        Tool.from_schema(record_tool(d["name"]), d["name"], d["description"], d["input_schema"]) for d in prompt.tools
    ]
    provider = AnthropicProvider(api_key="benchmark", base_url=os.environ["ANTHROPIC_BASE_URL"])
    model = AnthropicModel(MODEL, provider=provider)
    settings = AnthropicModelSettings(max_tokens=ANSWER_TOKENS)
    return Agent(model, instructions=prompt.system, tools=tools, model_settings=settings)


class MessageIn(BaseModel):
    content: str


class Reply(BaseModel):
    reply: str
    status: str


app = FastAPI()
agent = build_agent()


@app.post("/v1/conversations", status_code=201)
async def create_conversation() -> dict[str, str]:
    return {"id": f"conv_{uuid.uuid4().hex}"}


@app.post("/v1/conversations/{conversation_id}/messages")
async def post_message(conversation_id: str, body: MessageIn) -> dict[str, Any]:
    result = await agent.run(body.content)
    return {"run": Reply(reply=result.output, status="completed").model_dump()}
