"""A scripted model for tests: it answers with prepared responses, in order, and nothing else.

A request when the script is empty raises `UnexpectedModelCall` (an AssertionError, so it is never mistaken
for a provider failure and always fails the test), and `assert_done()` fails if steps were left unused.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from agent.errors import ModelError
from agent.models.base import ModelRequest, ModelResponse, TextBlock, TextSink, ToolUseBlock, Usage

_ids = itertools.count(1)


class UnexpectedModelCall(AssertionError):
    pass


@dataclass(frozen=True, slots=True)
class Step:
    response: ModelResponse | None = None
    error: ModelError | None = None
    check: Callable[[ModelRequest], None] | None = None
    """Runs on the request before answering, to assert what the model was shown."""
    delay_s: float = 0.0


def say(text: str, *, usage: Usage | None = None, stop_reason: str = "end_turn") -> ModelResponse:
    return ModelResponse(
        content=(TextBlock(text),), stop_reason=stop_reason, usage=usage or Usage(50, 10), model="scripted-1"
    )


def call(
    name: str, arguments: Any = None, *, usage: Usage | None = None, call_id: str | None = None, text: str = ""
) -> ModelResponse:
    return calls((name, arguments if arguments is not None else {}, call_id), usage=usage, text=text)


def calls(*tool_calls: tuple[str, Any, str | None], usage: Usage | None = None, text: str = "") -> ModelResponse:
    """Several tool calls in one response, as a model that parallelises would send them."""
    blocks: list[TextBlock | ToolUseBlock] = [TextBlock(text)] if text else []
    for name, arguments, call_id in tool_calls:
        blocks.append(ToolUseBlock(id=call_id or f"toolu_scripted_{next(_ids)}", name=name, input=arguments))
    return ModelResponse(
        content=tuple(blocks), stop_reason="tool_use", usage=usage or Usage(50, 10), model="scripted-1"
    )


class ScriptedModel:
    provider = "scripted"
    name = "scripted-1"

    def __init__(self, steps: Iterable[Step | ModelResponse] = ()) -> None:
        self._steps: deque[Step] = deque()
        self.requests: list[ModelRequest] = []
        self.add(*steps)

    def add(self, *steps: Step | ModelResponse) -> None:
        self._steps.extend(s if isinstance(s, Step) else Step(response=s) for s in steps)

    async def complete(self, request: ModelRequest, *, on_text: TextSink | None = None) -> ModelResponse:
        self.requests.append(request)
        if not self._steps:
            raise UnexpectedModelCall(f"the model was called {len(self.requests)} times; the script had fewer steps")
        step = self._steps.popleft()
        if step.check is not None:
            step.check(request)
        if step.delay_s:
            await asyncio.sleep(step.delay_s)
        if step.error is not None:
            raise step.error
        assert step.response is not None
        if on_text is not None and step.response.text:
            await on_text(step.response.text)
        return step.response

    @property
    def remaining(self) -> int:
        return len(self._steps)

    def assert_done(self) -> None:
        if self._steps:
            raise AssertionError(f"{len(self._steps)} scripted model step(s) were never used")
