"""The offline brain (`testkit.fakes.offline_brain`) with one scripted reaction to the system prompt, so that two prompt
versions can be compared through the Messages API and the comparison can show a difference honestly.

The offline model ignores the prompt: on its own, every prompt version would score the same. This fake answers as
the offline brain does, except where the request's system prompt lacks the instruction to answer policy questions
from the help centre: then, where the offline model would search the help centre, it answers from "what it knows"
instead (a plausible, unsourced policy line), as a model not told to look things up might. Nothing else depends on
the prompt. What answered is therefore the offline model's rules plus this one scripted rule, never Claude.
"""

from __future__ import annotations

from typing import Any

from testkit.fakes.anthropic_api import Answer, ReceivedRequest, Reply, Text, ToolUse
from testkit.fakes.offline_brain import OfflineBrainAPI, answer_with_offline_model

HELP_CENTRE_INSTRUCTION = "only from passages returned by search_help_centre"
"""The instruction this fake obeys when the system prompt has it (the packaged prompt's policy rule)."""
UNSOURCED = "Our usual policy is 30 days for most things, and it is quick and free. Anything else I can help with?"


def system_text(body: dict[str, Any]) -> str:
    system = body.get("system")
    if isinstance(system, str):
        return system
    return "".join(str(block.get("text", "")) for block in system or [])


class InstructedBrainAPI(OfflineBrainAPI):
    """Answers like the offline brain; without the help-centre instruction, answers policy questions unsourced."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.unsourced = 0
        """How many answers were given without the search the offline model would have made."""

    def _next_answer(self, request: ReceivedRequest) -> Answer:
        body = request.body if isinstance(request.body, dict) else {}
        if HELP_CENTRE_INSTRUCTION in system_text(body):
            return super()._next_answer(request)
        reply = answer_with_offline_model(body)
        if not any(isinstance(b, ToolUse) and b.name == "search_help_centre" for b in reply.content):
            return reply
        with self._lock:
            self.unsourced += 1
        return Reply(content=(Text(UNSOURCED),), stop_reason="end_turn", usage=reply.usage)
