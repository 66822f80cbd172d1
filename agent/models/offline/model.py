"""The offline model: deterministic, local, free, and honest about being a rule-based stand-in.

It is the service's default when no model API key is configured, and the last link of the fallback chain. It
is not a language model: it recognises a fixed set of requests by patterns (see `reading.py`), calls the same
tools a real model would, and words its replies from templates filled with the tool results.

The parts: `reading` (a message's intents, slots and separate requests), `social` (small talk and anger),
`conversation` (the thread, what was shown last, a held action's decision), `matching` (items, variants and
payment methods by the customer's words), `addresses` (a postal address in the ways customers write one),
`planner` (the next tool calls or words), `outcomes` (reports of writes and of a team member's decision),
`wording` (templates, with customer-facing names) and `patterns` (every regular expression it applies, each
linear in the text's length and timed by the test suite at the maximum message size).
"""

from __future__ import annotations

import asyncio
import json
import uuid

from agent.models.base import ModelRequest, ModelResponse, TextBlock, TextSink, ToolUseBlock, Usage
from agent.models.offline.conversation import read_conversation
from agent.models.offline.planner import plan
from agent.models.offline.plans import Plan
from agent.models.offline.reading.patterns import pattern

_WORDS = pattern(r"\S+\s*+")

_CHARS_PER_TOKEN = 4
"""Usage is estimated from text length, so budgets and dashboards behave as they would with a real model."""


class OfflineModel:
    provider = "offline"
    name = "offline-intent-1"

    async def complete(self, request: ModelRequest, *, on_text: TextSink | None = None) -> ModelResponse:
        # Reading a long message is linear but not free (tens of milliseconds at the size limit): it runs in a
        # worker thread, so the event loop serves other requests (and health checks) between its steps. (A
        # regular expression holds the interpreter while it runs: a thread is no shield against a slow one,
        # which is why every pattern is linear; see `patterns`.)
        response = await asyncio.to_thread(self.respond, request)
        text = "".join(b.text for b in response.content if isinstance(b, TextBlock))
        if on_text is not None and text:
            # Word by word, as a streaming model delivers text.
            for chunk in _WORDS.findall(text):
                await on_text(chunk)
        return response

    def respond(self, request: ModelRequest) -> ModelResponse:
        """The whole answer, computed in the calling thread: deterministic and free of any I/O."""
        decided = decide(request)
        content: list[TextBlock | ToolUseBlock] = [TextBlock(decided.text)] if decided.text else []
        for name, arguments in decided.calls:
            content.append(ToolUseBlock(id=f"toolu_offline_{uuid.uuid4().hex[:20]}", name=name, input=arguments))
        written = decided.text + json.dumps([list(c) for c in decided.calls])
        shown = len(request.system) + sum(len(json.dumps(m.to_json())) for m in request.messages)
        return ModelResponse(
            content=tuple(content),
            stop_reason="tool_use" if decided.calls else "end_turn",
            usage=Usage(input_tokens=shown // _CHARS_PER_TOKEN, output_tokens=max(1, len(written) // _CHARS_PER_TOKEN)),
            model=self.name,
        )


def decide(request: ModelRequest) -> Plan:
    """The next step for this conversation; pure, so it is safe to run outside the event loop."""
    return plan(read_conversation(request.messages))
