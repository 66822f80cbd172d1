"""Server-Sent Events as this service writes them: JSON data, and for a stored conversation event its row id as
the SSE id, so the per-message stream and the conversation feed send a stored event identically."""

from __future__ import annotations

import json
from typing import Any

from agent import ConversationEvent


def sse(event: str, data: dict[str, Any]) -> dict[str, str]:
    return {"event": event, "data": json.dumps(data, ensure_ascii=False)}


def feed_sse(stored: ConversationEvent) -> dict[str, str]:
    """A stored event: the same id, event name and data wherever it is sent."""
    return {"id": str(stored.id), **sse(stored.kind, stored.data)}
