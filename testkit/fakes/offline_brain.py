"""A Messages API that thinks with the offline model: every request is answered by running the offline model on
the request's own messages, and its text and tool calls go back in the real wire format.

Why: the golden suite should exercise the whole Claude path (the official SDK, the Anthropic adapter, prompt
caching markers, usage and cost; the golden turns are answered as JSON, so the SDK's plain `create` rather than
its stream, which the adapter's own tests cover) on every case, not only the offline model's shortcut, without a
hand-written script per case. The answers are the offline model's, so this is never presented as Claude.
"""

from __future__ import annotations

from typing import Any

from agent.models.base import Message, ModelRequest, TextBlock
from agent.models.offline import OfflineModel
from testkit.fakes.anthropic_api import Answer, FakeMessagesAPI, ReceivedRequest, Reply, Text, TokenUsage, ToolUse


def _system_text(system: Any) -> str:
    if isinstance(system, str):
        return system
    return "".join(str(block.get("text", "")) for block in system or [])


def answer_with_offline_model(body: dict[str, Any]) -> Reply:
    """The offline model's answer to a Messages API request body, as the API would send it."""
    request = ModelRequest(
        system=_system_text(body.get("system")),
        tools=list(body.get("tools", [])),
        messages=[Message.from_json(m) for m in body.get("messages", [])],
        max_tokens=int(body.get("max_tokens", 1024)),
    )
    response = OfflineModel().respond(request)
    blocks = tuple(
        Text(b.text) if isinstance(b, TextBlock) else ToolUse(b.name, b.input, id=b.id.replace("offline", "fake"))
        for b in response.content
    )
    usage = TokenUsage(input_tokens=response.usage.input_tokens, output_tokens=response.usage.output_tokens)
    return Reply(content=blocks, stop_reason=response.stop_reason, usage=usage)


class OfflineBrainAPI(FakeMessagesAPI):
    """The fake Messages API with no script: it answers every request with the offline model's answer."""

    def _next_answer(self, request: ReceivedRequest) -> Answer:
        body = request.body if isinstance(request.body, dict) else {}
        try:
            return answer_with_offline_model(body)
        except Exception as error:  # reported by assert_done(), as the fake reports its own failures
            with self._lock:
                self.failures.append(f"the offline brain could not answer: {type(error).__name__}: {error}")
            raise
