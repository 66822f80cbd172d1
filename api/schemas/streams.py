"""How a route declares a Server-Sent-Events answer in `/openapi.json`.

A route that only streams passes `response_class=EventSourceResponse` with these `responses`, so the spec lists
`text/event-stream` alone; one that answers JSON or a stream (the chat turn) passes its JSON model too."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

EVENT_STREAM = "text/event-stream"


def event_stream_response(
    description: str, *, json_model: type[BaseModel] | None = None, headers: dict[str, Any] | None = None
) -> dict[int | str, dict[str, Any]]:
    """The 200 of a streaming route: `text/event-stream` (each event an `event:` name and a JSON `data:` line),
    and, with `json_model`, the JSON body the same route answers when the client does not ask for a stream."""
    response: dict[str, Any] = {
        "description": description,
        "content": {EVENT_STREAM: {"schema": {"type": "string", "description": "Server-Sent Events"}}},
    }
    if json_model is not None:
        response["model"] = json_model
    if headers:
        response["headers"] = headers
    return {200: response}
