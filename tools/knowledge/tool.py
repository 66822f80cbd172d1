"""`search_help_centre`: the read tool any signed-in customer may use. It touches no customer data, so it
needs no identity beyond the session, and the policy engine allows it like every read."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from tools.arguments import FreeText, ToolArgs
from tools.context import ToolContext
from tools.knowledge.search import HelpCentre
from tools.registry import Effect, registry

TOOL_NAME = "search_help_centre"
KEYWORD_ONLY = HelpCentre()
"""Used when the service did not hand the tool a configured help centre (tests, scripts)."""


class SearchHelpCentre(ToolArgs):
    query: FreeText = Field(description="The customer's question, in their words or rephrased; any language.")


@registry.tool(effect=Effect.READ, label="Searching the help centre")
async def search_help_centre(ctx: ToolContext, args: SearchHelpCentre) -> dict[str, Any]:
    """Search the store's help centre (returns, exchanges, cancellations, refunds, shipping, payment, gift cards,
    warranty, damaged or missing items, account and privacy). Returns the best passages with article id, title,
    section and url. Answer policy questions only from these passages and cite the article's title and url."""
    centre = ctx.knowledge if isinstance(ctx.knowledge, HelpCentre) else KEYWORD_ONLY
    result = await centre.search(ctx.session, args.query)
    return result.as_json()


def passages_used(tool: str, content: Any) -> list[dict[str, Any]] | None:
    """The passages a `search_help_centre` result handed the model (ids and scores), for the run's record."""
    if tool != TOOL_NAME or not isinstance(content, dict) or not isinstance(content.get("passages"), list):
        return None
    return [
        {"id": p.get("passage_id"), "article_id": p.get("article_id"), "score": p.get("score")}
        for p in content["passages"]
        if isinstance(p, dict)
    ]


def kb_version_of(tool: str, content: Any) -> str | None:
    if tool != TOOL_NAME or not isinstance(content, dict):
        return None
    version = content.get("kb_version")
    return version if isinstance(version, str) else None
