"""The agent loop: the model proposes, the gate decides, the run ends in a defined status, never a 500.

One run answers one customer message. Each model answer is stored before its tool calls run; each tool call
goes through the gate (validate, policy, execute / refuse / hold); results go back to the model together, in
call order. The run ends when the model answers in words, a call is held for approval, the conversation is
handed off, a budget runs out, or the model fails. Every run transcript ends with an assistant message, so the
next run can start from it and the history stays valid for the Messages API.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from agent import replies
from agent.approvals import ApprovalStore
from agent.budget import RunBudget, RunLimits
from agent.context import clip_result, fit_history
from agent.dispatch import CallOutcome, ToolGate
from agent.errors import ModelError
from agent.feed import tool_label
from agent.models.base import (
    Message,
    Model,
    ModelRequest,
    ModelResponse,
    RetractableText,
    TextBlock,
    ToolResultBlock,
    ToolUseBlock,
)
from agent.pacing import TurnPacer
from agent.pricing import PriceTable
from agent.prompt import SYSTEM_PROMPT
from agent.run_store import ConversationSoFar, RunStore, RunTotals
from agent.state import TurnState
from agent.tables import Approval, Run
from agent.telemetry import PausedRun, Telemetry, current_trace_context, trace_id_of
from agent.tool_calls import CallBounds, take_in
from agent.views import HeldRun
from tools.call import ToolCall
from tools.context import Principal, utcnow
from tools.knowledge.tool import kb_version_of, passages_used
from tools.registry import ToolRegistry

log = logging.getLogger(__name__)

EventSink = Callable[[str, dict[str, Any]], Awaitable[None]]


async def _discard(_: str, __: dict[str, Any]) -> None:
    return None


@dataclass(slots=True)
class _Ending:
    status: str
    reply: str
    budget: str | None = None
    error: str | None = None
    approval: Approval | None = None


class AgentLoop:
    def __init__(
        self,
        *,
        model: Model,
        gate: ToolGate,
        runs: RunStore,
        approvals: ApprovalStore,
        registry: ToolRegistry,
        prices: PriceTable,
        limits: RunLimits,
        system_prompt: str = SYSTEM_PROMPT,
        max_tokens: int = 1024,
        context_tokens: int = 100_000,
        max_result_chars: int = 20_000,
        telemetry: Telemetry | None = None,
        call_bounds: CallBounds | None = None,
        pacer: TurnPacer | None = None,
    ) -> None:
        self.model = model
        self.gate = gate
        self.runs = runs
        self.approvals = approvals
        self.registry = registry
        self.prices = prices
        self.limits = limits
        self.system_prompt = system_prompt
        self.max_tokens = max_tokens
        self.context_tokens = context_tokens
        """Budget for the history shown to the model, in estimated tokens (system prompt and tools not counted)."""
        self.max_result_chars = max_result_chars
        self.tool_definitions = registry.definitions()
        self.telemetry = telemetry or Telemetry()
        self.call_bounds = call_bounds or CallBounds()
        self.pacer = pacer or TurnPacer(None)
        """How many turns compute at once in this process (`agent/pacing.py`); unpaced unless given one."""
        self.telemetry.turns_waiting = lambda: self.pacer.waiting

    async def answer(
        self,
        run: Run,
        content: str,
        *,
        events: EventSink | None = None,
        paused: PausedRun | None = None,
        spent_budget: str | None = None,
        so_far: ConversationSoFar | None = None,
        history: list[Message] | None = None,
    ) -> HeldRun:
        """Answer the message that starts `run`: a customer message stored with it (`RunStore.start_turn`), or
        the service's notice of an approval decision when the run resumes a paused one (`paused`).
        `spent_budget` names a daily budget found used up when the message was admitted; `so_far`, what the
        claim saw of the conversation, and `history`, the conversation so far when `RunStore.start_turn` read it."""
        async with self.pacer.turn():
            return await self._answer(run, content, events, paused, spent_budget, so_far, history)

    async def _answer(
        self,
        run: Run,
        content: str,
        events: EventSink | None,
        paused: PausedRun | None,
        spent_budget: str | None,
        so_far: ConversationSoFar | None,
        history: list[Message] | None,
    ) -> HeldRun:
        if history is None:
            history = await self.runs.history(run.conversation_id, before_run=run.id, so_far=so_far)
        history = fit_history(history, self.context_tokens)
        state = TurnState(
            messages=[*history, Message.user_text(content)],
            run_start=len(history),
            seen_call_ids={call.id for message in history for call in message.tool_uses},
        )
        await self.telemetry.know_customer(run.customer_id)
        with self.telemetry.run_span(
            run_id=run.id,
            conversation_id=run.conversation_id,
            provider=self.model.provider,
            model=self.model.name,
            paused=paused,
        ) as span:
            result = await self.drive(
                run, state, events=events or _discard, trace_id=trace_id_of(span), spent_budget=spent_budget
            )
            self.telemetry.finish_run(span, result.run)
        return result

    async def drive(
        self,
        run: Run,
        state: TurnState,
        *,
        events: EventSink,
        trace_id: str | None = None,
        spent_budget: str | None = None,
    ) -> HeldRun:
        principal = Principal.customer(run.customer_id)
        budget = RunBudget(self.limits)
        steps = StepLog(run.id)
        try:
            spent = spent_budget
            if spent is None and run.resumed_from is not None:
                spent = await self.runs.reserve_spend(run)
            if spent:
                ending = _Ending("budget_exhausted", replies.DAILY_BUDGET_SPENT, budget=spent)
            else:
                ending = await self._loop(run, principal, state, budget, steps, events)
        except ModelError as error:
            state.flush_results()
            ending = _Ending("failed", replies.MODEL_FAILED, error=f"{type(error).__name__}: {error}")
        except Exception as error:  # a defect or a store failure mid-run: the run still ends, and says so
            log.exception("run %s failed unexpectedly", run.id)
            state.answer_open_calls("not run: the turn was stopped by an error on our side")
            ending = _Ending("failed", replies.MODEL_FAILED, error=f"{type(error).__name__}: {error}"[:2000])
        state.messages.append(Message(role="assistant", content=(TextBlock(ending.reply),)))
        finished = await self.runs.finish_turn(
            run,
            status=ending.status,
            reply=ending.reply,
            transcript=[m.to_json() for m in state.run_messages()],
            totals=RunTotals(
                budget.model_calls,
                budget.usage.input_tokens,
                budget.usage.output_tokens,
                budget.usage.cache_read_input_tokens,
                budget.usage.cache_creation_input_tokens,
                budget.cost_micro_usd,
            ),
            model_provider=steps.answered_by[0] if steps.answered_by else self.model.provider,
            model_name=steps.answered_by[1] if steps.answered_by else self.model.name,
            budget_exhausted=ending.budget,
            error=ending.error,
            trace_id=trace_id,
            steps=steps.rows,
            decisions=steps.decisions,
            kb_version=steps.kb_version,
            held=ending.approval,
        )
        return HeldRun(finished, ending.approval)

    async def _loop(
        self,
        run: Run,
        principal: Principal,
        state: TurnState,
        budget: RunBudget,
        steps: StepLog,
        events: EventSink,
    ) -> _Ending:
        while True:
            while state.queued_calls:
                call = state.queued_calls.pop(0)
                if refused := state.refused_calls.pop(call.id, None):
                    state.pending_results.append(refused)
                    continue
                key = state.call_keys.pop(call.id)
                outcome = await self._run_tool(run, principal, call, key, steps, events)
                if outcome.awaiting_confirmation or outcome.awaiting_approval:
                    # The same call already waiting for a person is not asked for again, nor confirmed again.
                    held = await self.approvals.pending_duplicate(run.conversation_id, call.name, call.input)
                    if held is None:
                        return await self._pause(run, call, key, outcome, state, events)
                    state.pending_results.append(awaiting_result(call.id, held.id, replies.DUPLICATE_PENDING))
                    continue
                result = outcome.result
                assert result is not None
                shown = clip_result(json.dumps(result.content, ensure_ascii=False), self.max_result_chars)
                state.pending_results.append(ToolResultBlock(call.id, shown, is_error=not result.ok))
                if outcome.ends_run:
                    self._close_queue(state, replies.NOT_RUN_AFTER_HANDOFF)
                    state.flush_results()
                    return _Ending("handed_off", replies.HANDED_OFF)
            state.flush_results()
            if exhausted := budget.exhausted():
                return _Ending("budget_exhausted", replies.BUDGET_EXHAUSTED, budget=exhausted)
            try:
                response = await self._call_model(run, state, budget, steps, events)
            except TimeoutError:
                return _Ending("budget_exhausted", replies.BUDGET_EXHAUSTED, budget="wall_clock")
            if ending := self._after_response(run, response, state, budget):
                return ending

    def _after_response(self, run: Run, response: ModelResponse, state: TurnState, budget: RunBudget) -> _Ending | None:
        """Act on the stop reason. Returns how the run ends, or None to continue with the queued tool calls."""
        reason = response.stop_reason
        if reason == "tool_use" and response.tool_uses:
            intake = take_in(
                response.tool_uses,
                run_id=run.id,
                step=budget.model_calls,
                seen_ids=state.seen_call_ids,
                ran_so_far=state.calls_run,
                bounds=self.call_bounds,
            )
            calls = iter(intake.blocks)
            content = tuple(next(calls) if isinstance(b, ToolUseBlock) else b for b in response.content)
            state.messages.append(Message(role="assistant", content=content))
            state.queued_calls = list(intake.blocks)
            state.call_keys = intake.keys
            state.refused_calls = intake.refused
            state.calls_run += len(intake.to_run)
            return None
        if reason == "pause_turn":
            # The provider paused a long turn: its partial answer goes back as the last message, as is, and the
            # next call continues it.
            state.messages.append(response.as_message())
            return None
        words = response.text.strip()
        if reason == "refusal":
            return _Ending("completed", replies.REFUSED)
        if reason == "max_tokens":
            # Tool calls in a cut answer may have cut arguments: they are not run.
            return _Ending("completed", f"{words}\n\n{replies.CUT_SHORT}" if words else replies.CUT_SHORT)
        if reason == "model_context_window_exceeded":
            return _Ending("failed", replies.MODEL_FAILED, error="the conversation no longer fits the model's context")
        if not words:
            return _Ending("failed", replies.MODEL_FAILED, error=f"empty answer (stop_reason {reason})")
        return _Ending("completed", words)

    async def _call_model(
        self, run: Run, state: TurnState, budget: RunBudget, steps: StepLog, events: EventSink
    ) -> ModelResponse:
        request = ModelRequest(
            system=self.system_prompt,
            tools=self.tool_definitions,
            messages=list(state.messages),
            max_tokens=self.max_tokens,
            conversation_id=run.conversation_id,
        )

        async def delta(text: str) -> None:
            await events("message.delta", {"run_id": run.id, "conversation_id": run.conversation_id, "text": text})

        async def discard(reason: str) -> None:
            await events(
                "message.discard", {"run_id": run.id, "conversation_id": run.conversation_id, "reason": reason}
            )

        # A JSON turn has no reader of words as they come: one plain answer costs less CPU than parsing a stream.
        on_text = None if events is _discard else RetractableText(delta, discard)

        started = time.perf_counter()
        with self.telemetry.model_span(self.model.provider, self.model.name, request) as span:
            # The model's wait holds no place; taking one back afterwards is not the model's time.
            async with self.pacer.away():
                async with asyncio.timeout(max(budget.remaining_s(), 0.001)):
                    response = await self.model.complete(request, on_text=on_text)
                latency_ms = (time.perf_counter() - started) * 1000
            self.telemetry.model_answered(span, self.model.provider, self.model.name, response, latency_ms / 1000)
        cost = self.prices.cost_micro_usd(response.model or self.model.name, response.usage)
        budget.spend(response.usage, cost)
        steps.add(
            kind="model",
            latency_ms=latency_ms,
            provider=response.provider or self.model.provider,
            model=response.model or self.model.name,
            stop_reason=response.stop_reason,
            input_tokens=response.usage.input_tokens,
            output_tokens=response.usage.output_tokens,
            cache_read_tokens=response.usage.cache_read_input_tokens,
            cache_write_tokens=response.usage.cache_creation_input_tokens,
            cost_micro_usd=cost,
        )
        return response

    async def _run_tool(
        self, run: Run, principal: Principal, call: ToolUseBlock, key: str, steps: StepLog, events: EventSink
    ) -> CallOutcome:
        progress = {"run_id": run.id, "conversation_id": run.conversation_id, "tool": call.name, "tool_use_id": call.id}
        await events("tool.started", {**progress, "label": tool_label(call.name)})
        started = time.perf_counter()
        with self.telemetry.tool_span(call.name, call.id, call.input, run.conversation_id) as span:
            outcome = await self.gate.submit(
                ToolCall(call.name, call.input, call.id), principal, run_id=run.id, key=key
            )
            latency_ms = (time.perf_counter() - started) * 1000
            steps.audit(outcome.unrecorded_decision)
            decision = outcome.decision
            result = outcome.result
            passages = passages_used(call.name, result.content if result else None)
            self.telemetry.passages_used(span, passages)
            self.telemetry.tool_decided(
                span,
                call.name,
                decision,
                ok=bool(result and result.ok),
                error_code=result.error_code if result else None,
                result=result.content if result else None,
            )
        steps.add(
            kind="tool",
            latency_ms=latency_ms,
            tool=call.name[:200],
            tool_use_id=call.id[:200],
            arguments=call.input,
            decision=decision.outcome.value if decision else "invalid",
            rule=decision.rule if decision else None,
            result=result.content if result else None,
            is_error=bool(result and not result.ok),
            passages=passages,
            kb_version=kb_version_of(call.name, result.content if result else None),
        )
        await events(
            "tool.finished",
            {
                **progress,
                "label": tool_label(call.name),
                "outcome": decision.outcome.value if decision else "invalid",
                "ok": bool(result and result.ok),
            },
        )
        return outcome

    async def _pause(
        self, run: Run, call: ToolUseBlock, key: str, outcome: CallOutcome, state: TurnState, events: EventSink
    ) -> _Ending:
        """Hold the call for the customer's confirmation or a human's approval. The transcript records it as
        waiting, so later turns stay coherent."""
        decision = outcome.decision
        assert decision is not None
        kind = "confirmation" if outcome.awaiting_confirmation else "approval"
        approval = await self.approvals.create(
            run, call, decision, state, trace_context=current_trace_context(), idempotency_key=key, kind=kind
        )
        if kind == "confirmation":
            state.pending_results.append(
                awaiting_result(call.id, approval.id, replies.ASKED_TO_CONFIRM, status="awaiting_confirmation")
            )
            self._close_queue(state, replies.NOT_RUN_AFTER_CONFIRMATION)
            state.flush_results()
            return _Ending("awaiting_confirmation", replies.confirm_please(approval.summary), approval=approval)
        self.telemetry.approval_opened()
        state.pending_results.append(awaiting_result(call.id, approval.id, decision.customer_message))
        self._close_queue(state, replies.NOT_RUN_AFTER_PAUSE)
        state.flush_results()
        return _Ending("awaiting_approval", replies.awaiting_approval(decision), approval=approval)

    @staticmethod
    def _close_queue(state: TurnState, why: str) -> None:
        """Answer every call still queued, so no tool call in the transcript is left without a result."""
        state.refused_calls = {}
        state.call_keys = {}
        for call in state.queued_calls:
            state.pending_results.append(
                ToolResultBlock(call.id, json.dumps({"error": {"code": "not_run", "message": why}}), is_error=True)
            )
        state.queued_calls = []


def awaiting_result(call_id: str, held_id: str, message: str, *, status: str = "awaiting_approval") -> ToolResultBlock:
    """The tool result of a call that waits for a decision (not an error: nothing went wrong)."""
    key = "confirmation_id" if status == "awaiting_confirmation" else "approval_id"
    body = {"status": status, key: held_id, "message": message}
    return ToolResultBlock(call_id, json.dumps(body))


class StepLog:
    """The run's steps, in order. They are written with the run's closing transaction, in one batch: a run that
    dies half-way is marked interrupted anyway, and one write per turn is what keeps turn overhead low."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.rows: list[dict[str, Any]] = []
        self.decisions: list[dict[str, Any]] = []
        """Audit rows of the run's allowed reads, stored with the steps (`agent.dispatch.ToolGate`)."""
        self.answered_by: tuple[str, str] | None = None
        """Provider and model of the last model call: with a fallback chain, the link that answered."""
        self.kb_version: str | None = None
        """The help centre's version the run's searches read."""

    def audit(self, decision_row: dict[str, Any] | None) -> None:
        if decision_row is not None:
            self.decisions.append(decision_row)

    def add(self, **values: Any) -> None:
        if values.get("kind") == "model":
            self.answered_by = (str(values["provider"]), str(values["model"]))
        self.kb_version = values.pop("kb_version", None) or self.kb_version
        self.rows.append(
            {**STEP_DEFAULTS, **values, "run_id": self.run_id, "position": len(self.rows), "created_at": utcnow()}
        )


STEP_DEFAULTS: dict[str, Any] = {
    "provider": None,
    "model": None,
    "stop_reason": None,
    "input_tokens": 0,
    "output_tokens": 0,
    "cache_read_tokens": 0,
    "cache_write_tokens": 0,
    "cost_micro_usd": 0,
    "tool": None,
    "tool_use_id": None,
    "arguments": None,
    "decision": None,
    "rule": None,
    "result": None,
    "is_error": False,
    "latency_ms": 0.0,
    "passages": None,
}
