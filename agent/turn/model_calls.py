"""Asking the model for the next answer of a run: one request with the whole conversation so far, under the
run's remaining wall clock, recorded as a step with its tokens and cost. The turn's plan (`agent.turn.plan`) says
which model is asked (its route's, now) and with which prompt version's system prompt and tools.

A request the provider refuses is our defect and is reported (`agent.models.health`). One refusal is answered
here: a prompt too long for the model gets one more try with a shorter history (`agent.turn.window.shorten`); a second
refusal goes to the next model of the chain, or fails the run. When the shorter history is answered, the history
budget of every later turn is lowered to its size: the estimate of tokens (4 characters each) was too generous for
this model's tokenizer, and without the lower budget every later turn would be refused once first. On the simple
route a prompt too long is not shortened: like any failure of the simple model, it moves the turn to the default
route (`agent.routing.routes`), whose model may well take the whole history.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from agent.conversations.steps import StepKind, StepLog
from agent.conversations.tables import Run
from agent.errors import ModelProtocolError, ModelRejected, PromptTooLong
from agent.limits.budget import RunBudget
from agent.limits.pacing import TurnPacer
from agent.limits.pricing import PriceTable
from agent.models.base import ModelResponse, RetractableText
from agent.models.health import ModelHealth
from agent.telemetry.recorder import Telemetry
from agent.turn.plan import TurnPlan
from agent.turn.state import TurnState
from agent.turn.tool_calls import unreadable_calls
from agent.turn.window import estimate_tokens, shorten
from tools.store.sanitize import visible

log = logging.getLogger(__name__)
EventSink = Callable[[str, dict[str, Any]], Awaitable[None]]
SHORTER_AFTER_TOO_LONG = 0.5
"""The share of its estimated size the history keeps when the model refuses the prompt as too long."""


@dataclass(frozen=True, slots=True)
class Stream:
    """Where the model's words go as they come, for a turn answered over Server-Sent Events."""

    run: Run
    events: EventSink

    def sink(self) -> RetractableText:
        ids = {"run_id": self.run.id, "conversation_id": self.run.conversation_id}

        async def delta(text: str) -> None:
            await self.events("message.delta", {**ids, "text": visible(text)})

        async def discard(reason: str) -> None:
            await self.events("message.discard", {**ids, "reason": reason})

        return RetractableText(delta, discard)


@dataclass(slots=True)
class ModelCalls:
    max_tokens: int
    telemetry: Telemetry
    prices: PriceTable
    pacer: TurnPacer
    health: ModelHealth
    context_tokens: int
    """The history's budget, in estimated tokens (`agent.turn.window.fit_history`); lowered after a prompt too long."""

    async def answer(
        self,
        plan: TurnPlan,
        conversation_id: str,
        state: TurnState,
        budget: RunBudget,
        steps: StepLog,
        stream: Stream | None,
    ) -> ModelResponse:
        """The answer of the turn's model (its route's, now) to the conversation so far."""
        try:
            return await self._call(plan, conversation_id, state, budget, steps, stream)
        except PromptTooLong as error:
            self._rejected(plan, error)
            if plan.route.on_simple:
                raise  # the default route takes the turn, history and all
            history = shorten(state.messages[: state.run_start], SHORTER_AFTER_TOO_LONG)
            if history is None:
                raise
            state.replace_history(history)
        except ModelRejected as error:
            self._rejected(plan, error)
            raise
        try:
            answer = await self._call(plan, conversation_id, state, budget, steps, stream, shortened=True)
        except ModelRejected as error:
            self._rejected(plan, error)
            raise
        fitted = sum(estimate_tokens(m) for m in history)
        if fitted < self.context_tokens:
            log.warning("history budget lowered from %d to %d estimated tokens", self.context_tokens, fitted)
            self.context_tokens = fitted
        return answer

    def _rejected(self, plan: TurnPlan, error: ModelRejected) -> None:
        self.health.rejected(plan.route.model.provider, plan.route.model.name, error)

    async def _call(
        self,
        plan: TurnPlan,
        conversation_id: str,
        state: TurnState,
        budget: RunBudget,
        steps: StepLog,
        stream: Stream | None,
        *,
        shortened: bool = False,
    ) -> ModelResponse:
        request = plan.request(
            list(state.messages),
            max_tokens=self.max_tokens,
            conversation_id=conversation_id,
            deadline=time.monotonic() + budget.remaining_s(),
            shortened=shortened,
        )
        # A JSON turn has no reader of words as they come: one plain answer costs less CPU than parsing a stream.
        on_text = stream.sink() if stream is not None else None
        model = plan.route.model
        started = time.perf_counter()
        with self.telemetry.model_span(model.provider, model.name, request) as span:
            # The model's wait holds no place; taking one back afterwards is not the model's time.
            async with self.pacer.away():
                async with asyncio.timeout(max(budget.remaining_s(), 0.001)):
                    try:
                        response = await model.complete(request, on_text=on_text)
                    except RecursionError as error:  # an answer nested past what can be decoded at all
                        raise ModelProtocolError(f"the model's answer could not be read: {error}") from None
                latency_ms = (time.perf_counter() - started) * 1000
            fault = unreadable_calls(response)
            if fault is None:
                self.telemetry.model_answered(
                    span, model.provider, model.name, response, latency_ms / 1000, request.labels
                )
        cost = self.prices.cost_micro_usd(response.model or model.name, response.usage)
        budget.spend(response.usage, cost)
        steps.add(
            kind=StepKind.MODEL,
            latency_ms=latency_ms,
            provider=response.provider or model.provider,
            model=response.model or model.name,
            stop_reason=response.stop_reason,
            input_tokens=response.usage.input_tokens,
            output_tokens=response.usage.output_tokens,
            cache_read_tokens=response.usage.cache_read_input_tokens,
            cache_write_tokens=response.usage.cache_creation_input_tokens,
            cost_micro_usd=cost,
            fallback_reason=response.fallback_reason,
        )
        if fault is not None:  # after its cost is counted: the answer was paid for
            raise fault
        return response
