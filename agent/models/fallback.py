"""A chain of models: the first one whose circuit is closed answers; on failure the next one is asked.

Typical chain, from `SUPPORT_MODEL` and `SUPPORT_MODEL_FALLBACKS`: Claude Sonnet -> Claude Haiku -> an
OpenAI-compatible endpoint (vLLM, Ollama, OpenAI) -> the offline model. Each link keeps its own retry policy
(the SDK's for Anthropic, tenacity for the OpenAI-compatible client); the chain never retries a link, it moves
on. When the offline model answers as a fallback, the reply says the assistant is in a limited mode and offers
a person, the answer carries the reason (`fallback_reason`, kept on the run), and the model health reads degraded.

A provider refusing our request is a defect of ours, reported through `ModelHealth` (ERROR log, metric, health)
even though a later link answers. A prompt too long is not passed down the chain the first time: the loop
shortens the history and asks again (`agent.turn.loop`), and only a second refusal falls back.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace

from agent.errors import (
    ModelError,
    ModelRejected,
    ModelRetryTooLate,
    ModelTimeout,
    ModelUnavailable,
    PromptTooLong,
)
from agent.models.base import Model, ModelRequest, ModelResponse, RetractableText, TextBlock, TextSink
from agent.models.circuit import CircuitBreaker
from agent.models.health import ModelHealth
from agent.telemetry.recorder import Telemetry

log = logging.getLogger(__name__)

LIMITED_MODE = (
    "I'm running in a limited mode right now, so I may not follow everything; say 'human' at any time and a "
    "member of our team will take over. "
)


FELL_BACK = "model_fallback"


class _Counting:
    """Passes text on, counting the pieces: a link that failed after streaming some must have it retracted."""

    def __init__(self, sink: TextSink) -> None:
        self.sink = sink
        self.pieces = 0

    async def __call__(self, text: str) -> None:
        self.pieces += 1
        await self.sink(text)


class FallbackChain:
    provider = "fallback"

    def __init__(
        self,
        links: Sequence[Model],
        *,
        telemetry: Telemetry | None = None,
        breakers: Sequence[CircuitBreaker] | None = None,
        health: ModelHealth | None = None,
    ) -> None:
        if not links:
            raise ValueError("a fallback chain needs at least one model")
        self.links = list(links)
        self.breakers = list(breakers) if breakers else [CircuitBreaker() for _ in self.links]
        self.telemetry = telemetry or Telemetry()
        self.name = "+".join(label(link) for link in self.links)
        self.health = health or ModelHealth(self.telemetry)
        self.health.watch_circuits(self.open_links)

    def open_links(self) -> list[str]:
        return [label(link) for link, b in zip(self.links, self.breakers, strict=True) if b.state == "open"]

    async def complete(self, request: ModelRequest, *, on_text: TextSink | None = None) -> ModelResponse:
        failures: list[str] = []
        for position, (link, breaker) in enumerate(zip(self.links, self.breakers, strict=True)):
            if not breaker.allow():
                failures.append(f"{label(link)} skipped: circuit open")
                continue
            streamed = _Counting(on_text) if on_text is not None and link.provider != "offline" else None
            try:
                # The offline link's text is streamed after the fact, with the limited-mode notice in front.
                with self.telemetry.model_span(link.provider, link.name, request) as span:
                    response = await link.complete(request, on_text=streamed)
                    if span is not None:  # while the span is open: an ended span drops what is set on it
                        span.set_attribute("support.model.fallback_position", position)
                        self.telemetry.describe_answer(span, link.name, response)
            except ModelError as error:
                if isinstance(error, PromptTooLong) and not request.shortened:
                    breaker.record_neutral()
                    raise  # the loop shortens the history and asks again
                if error.provider_fault:
                    breaker.record_failure()
                else:
                    breaker.record_neutral()
                if isinstance(error, ModelRejected):
                    self.health.rejected(link.provider, link.name, error)
                else:
                    log.warning("model %s failed, trying the next one: %s", label(link), error)
                failures.append(describe(link, error))
                if streamed is not None and streamed.pieces and isinstance(on_text, RetractableText):
                    await on_text.retract(FELL_BACK)  # the next link answers from the start
                continue
            breaker.record_success()
            labelled = self._labelled(link, response, fell_back=position > 0)
            if failures:
                reason = "; ".join(failures)[:300]
                labelled = replace(labelled, fallback_reason=reason)
                self.health.fell_back(label(link), reason)
            if on_text is not None and streamed is None and labelled.text:
                await on_text(labelled.text)
            return labelled
        raise ModelUnavailable("no model in the chain could answer: " + "; ".join(failures))

    @staticmethod
    def _labelled(link: Model, response: ModelResponse, *, fell_back: bool) -> ModelResponse:
        answered = replace(response, provider=link.provider, model=response.model or link.name)
        if not (fell_back and link.provider == "offline" and answered.text):
            return answered
        blocks = list(answered.content)
        first_text = next(i for i, b in enumerate(blocks) if isinstance(b, TextBlock))
        text = blocks[first_text]
        assert isinstance(text, TextBlock)
        blocks[first_text] = TextBlock(LIMITED_MODE + text.text)
        return replace(answered, content=tuple(blocks))

    async def close(self) -> None:
        for link in self.links:
            closer = getattr(link, "close", None)
            if closer is not None:
                await closer()


def label(link: Model) -> str:
    return f"{link.provider}:{link.name}"


def describe(link: Model, error: ModelError) -> str:
    """One failure of a link, in the words of `fallback_reason`."""
    if isinstance(error, ModelRejected):
        return f"{label(link)} refused the request: {error.reason} ({error.status})"
    if isinstance(error, ModelRetryTooLate):
        return f"{label(link)} asked to be retried in {error.retry_after_s:.0f} s, later than the run could wait"
    if isinstance(error, ModelTimeout):
        return f"{label(link)} did not answer in time"
    if isinstance(error, ModelUnavailable):
        return f"{label(link)} unavailable: {str(error)[:120]}"
    return f"{label(link)} answered unreadably: {str(error)[:120]}"
