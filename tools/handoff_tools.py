"""Handing the conversation to a human support agent."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from tools.arguments import FreeText, ToolArgs
from tools.context import ToolContext
from tools.registry import Effect, registry


class TransferToHumanAgents(ToolArgs):
    summary: FreeText = Field(description="What the customer needs and what was tried, for the human agent.")


@registry.tool(effect=Effect.READ, ends_run=True, label="Passing you to our team")
async def transfer_to_human_agents(ctx: ToolContext, args: TransferToHumanAgents) -> dict[str, Any]:
    """Hand the conversation to a human support agent, with a summary. Use it when the request is outside what
    these tools can do, or the customer asks for a person. The run ends after this call."""
    return {"status": "transferred", "customer_id": ctx.customer_id}
