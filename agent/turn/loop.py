"""The agent loop: the model proposes, the gate decides, the run ends in a defined status, never a 500.

One run answers one customer message. Each model answer is stored before its tool calls run; each tool call
goes through the gate (validate, policy, execute / refuse / hold); results go back to the model together, in
call order. The run ends when the model answers in words, a call is held for approval, the conversation is
handed off, a budget runs out, or the model fails. Every run transcript ends with an assistant message, so the
next run can start from it and the history stays valid for the Messages API: what the model answered is kept as
it came (its thinking included, which a thinking model must get back unchanged), less text without words.

What the provider refuses is our defect and is said loudly (`agent.models.health`); a prompt too long for the
model is the one refusal the loop answers itself, by shortening the history and asking once more.

Before the first model call the turn is planned (`agent.turn.plan`): its route (`agent.routing.routes`: a cheaper model
for lookups, the default one for everything else) and the conversation's prompt version
(`agent.routing.prompt_versions`).
On the simple route, an answer that is not a plain read, and a simple model that fails or is refused, move the
turn to the default route from where it stood: nothing the simple model proposed runs.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from agent.conversations.feed import tool_label
from agent.conversations.records import HeldRun
from agent.conversations.steps import StepKind, StepLog
from agent.conversations.store import KnownAtStart, RunStore
from agent.conversations.tables import Run
from agent.errors import ModelError
from agent.held.approvals import ApprovalStore
from agent.held.handoffs import HandoffNote
from agent.held.status import HeldKind, RunStatus
from agent.limits.budget import RunBudget, RunLimits
from agent.limits.pacing import TurnPacer
from agent.limits.pricing import PriceTable
from agent.models.base import (
    Message,
    ModelResponse,
    TextBlock,
    ToolResultBlock,
    ToolUseBlock,
    without_blank_text,
)
from agent.models.health import ModelHealth
from agent.quality.reply_check import ReplyCheck
from agent.quality.run_flags import Flag
from agent.routing.prompt_versions import PromptVersions
from agent.routing.routes import MODEL_ESCALATED, ModelRoutes
from agent.telemetry.links import PausedRun, current_trace_context, trace_id_of
from agent.telemetry.recorder import Telemetry
from agent.turn import model_notices, replies
from agent.turn.answers import Ending, close_run, flags_of_ending, settle
from agent.turn.model_calls import ModelCalls, Stream
from agent.turn.plan import TurnPlan, plan_turn
from agent.turn.state import TurnState, awaiting_result
from agent.turn.tool_calls import CallBounds, take_in
from agent.turn.tool_gate import CallOutcome, ToolGate
from agent.turn.window import clip_result, fit_history, repaired
from basics.principal import Principal
from tools.call import ToolCall
from tools.knowledge.tool import kb_version_of, passages_used
from tools.registry import ToolRegistry

log = logging.getLogger(__name__)

EventSink = Callable[[str, dict[str, Any]], Awaitable[None]]


async def _discard(_: str, __: dict[str, Any]) -> None:
    return None


class AgentLoop:
    def __init__(
        self,
        *,
        routes: ModelRoutes,
        gate: ToolGate,
        runs: RunStore,
        approvals: ApprovalStore,
        registry: ToolRegistry,
        prices: PriceTable,
        limits: RunLimits,
        prompts: PromptVersions | None = None,
        max_tokens: int = 1024,
        context_tokens: int = 100_000,
        max_result_chars: int = 20_000,
        telemetry: Telemetry | None = None,
        call_bounds: CallBounds | None = None,
        pacer: TurnPacer | None = None,
        health: ModelHealth | None = None,
        reply_check: ReplyCheck | None = None,
    ) -> None:
        self.routes = routes
        """The models: the default route's, and the simple route's when routing is on (`agent.routing.routes`)."""
        self.gate = gate
        self.runs = runs
        self.approvals = approvals
        self.registry = registry
        self.prices = prices
        self.limits = limits
        self.prompts = prompts or PromptVersions.load(registry)
        """The prompt versions on offer, and which conversation gets which (`agent.routing.prompt_versions`)."""
        self.max_tokens = max_tokens
        self.max_result_chars = max_result_chars
        self.telemetry = telemetry or Telemetry()
        self.call_bounds = call_bounds or CallBounds()
        self.pacer = pacer or TurnPacer(None)
        """How many turns compute at once in this process (`agent/limits/pacing.py`); unpaced unless given one."""
        self.telemetry.turns_waiting = lambda: self.pacer.waiting
        self.telemetry.known_tools = frozenset(spec.name for spec in registry)
        self.reply_check = reply_check or ReplyCheck()
        """The grounding check of every model reply, and what a reply that fails it does (`agent.quality`)."""
        self.health = health or routes.health
        """Where refusals of our requests and fall-backs are reported, for the models of every route."""
        self.calls = ModelCalls(
            max_tokens=max_tokens,
            telemetry=self.telemetry,
            prices=prices,
            pacer=self.pacer,
            health=self.health,
            context_tokens=context_tokens,
        )

    async def answer(
        self,
        run: Run,
        content: str,
        *,
        events: EventSink | None = None,
        paused: PausedRun | None = None,
        known: KnownAtStart | None = None,
    ) -> HeldRun:
        """Answer the message that starts `run`: a customer message stored with it (`RunStore.start_turn`), or
        the service's notice of an approval decision when the run resumes a paused one (`paused`). `known` is
        what the statements that started the run found (`StartedTurn.known`): a daily budget used up, what the
        claim saw of the conversation, and the history if the backend's start read it."""
        async with self.pacer.turn():
            return await self._answer(run, content, events, paused, known or KnownAtStart())

    async def _answer(
        self,
        run: Run,
        content: str,
        events: EventSink | None,
        paused: PausedRun | None,
        known: KnownAtStart,
    ) -> HeldRun:
        history = known.history
        if history is None:
            history = await self.runs.history(run.conversation_id, before_run=run.id, so_far=known.so_far)
        history = fit_history(repaired(history), self.calls.context_tokens)
        state = TurnState(
            messages=[*history, Message.user_text(content)],
            run_start=len(history),
            seen_call_ids={call.id for message in history for call in message.tool_uses},
        )
        await self.telemetry.know_customer(run.customer_id)
        plan = plan_turn(
            self.routes,
            self.prompts,
            conversation_id=run.conversation_id,
            message=content,
            so_far=known.so_far,
            resumed=paused is not None,
        )
        with self.telemetry.run_span(
            run_id=run.id,
            conversation_id=run.conversation_id,
            provider=plan.route.model.provider,
            model=plan.route.model.name,
            paused=paused,
            labels=plan.run_labels(),
        ) as span:
            result = await self.drive(
                run, state, plan, events=events or _discard, trace_id=trace_id_of(span), spent_budget=known.spent_budget
            )
            self.telemetry.finish_run(span, result.run)
            self.telemetry.run_flagged(span, result.run, result.flags)
        return result

    async def drive(
        self,
        run: Run,
        state: TurnState,
        plan: TurnPlan,
        *,
        events: EventSink,
        trace_id: str | None = None,
        spent_budget: str | None = None,
    ) -> HeldRun:
        principal = Principal.customer(run.customer_id)
        budget = RunBudget(self.limits)
        steps = StepLog(run.id)
        try:
            if spent_budget:
                ending = Ending(RunStatus.BUDGET_EXHAUSTED, replies.DAILY_BUDGET_SPENT, budget=spent_budget)
            else:
                ending = await self._loop(run, principal, state, budget, steps, events, plan)
        except ModelError as error:
            state.flush_results()
            ending = Ending(RunStatus.FAILED, replies.MODEL_FAILED, error=f"{type(error).__name__}: {error}")
        except Exception as error:  # a defect or a store failure mid-run: the run still ends, and says so
            log.exception("run %s failed unexpectedly", run.id)
            state.answer_open_calls("not run: the turn was stopped by an error on our side")
            ending = Ending(RunStatus.FAILED, replies.MODEL_FAILED, error=f"{type(error).__name__}: {error}"[:2000])
        ending, flags, note = await self._check_reply(ending, state, steps, plan)
        if ending.refused:
            state.forget_turn(model_notices.withheld_after_refusal(steps.tools_run))
        state.messages.append(ending.message or Message(role="assistant", content=(TextBlock(ending.reply),)))
        flags = [*flags_of_ending(ending, steps), *flags]
        finished = await close_run(self.runs, run, ending, state, budget, steps, plan, trace_id, flags, note)
        return HeldRun(finished, ending.approval, tuple(flags))

    async def _check_reply(
        self, ending: Ending, state: TurnState, steps: StepLog, plan: TurnPlan
    ) -> tuple[Ending, list[Flag], HandoffNote | None]:
        """The model's reply checked against what the run saw (`agent.quality`): its ungrounded facts as flags,
        and with `hold` the ending that withholds it."""
        if ending.status != RunStatus.COMPLETED or ending.refused:
            return ending, [], None
        results = (s.result for s in steps.rows if s.kind == StepKind.TOOL and s.result is not None)
        judged = await self.reply_check.judge(
            ending.reply, state.messages, state.run_start, results, plan.prompt, steps.run_id
        )
        if judged is None:  # the check broke: the reply goes unchecked, and the count says flags are missing
            self.telemetry.grounding_unchecked.add(1)
            return ending, [], None
        flags, note = judged
        return (ending if note is None else Ending(RunStatus.HANDED_OFF, replies.REPLY_HELD)), flags, note

    async def _loop(
        self,
        run: Run,
        principal: Principal,
        state: TurnState,
        budget: RunBudget,
        steps: StepLog,
        events: EventSink,
        plan: TurnPlan,
    ) -> Ending:
        while True:
            while state.queued_calls:
                call = state.queued_calls.pop(0)
                if refused := state.refused_calls.pop(call.id, None):
                    state.pending_results.append(refused)
                    continue
                key = state.call_keys.pop(call.id)
                outcome = await self._run_tool(run, principal, call, key, steps, events, plan.labels())
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
                    state.close_queue(replies.NOT_RUN_AFTER_HANDOFF)
                    state.flush_results()
                    return Ending(RunStatus.HANDED_OFF, replies.HANDED_OFF)
            state.flush_results()
            if exhausted := budget.exhausted():
                return Ending(RunStatus.BUDGET_EXHAUSTED, replies.BUDGET_EXHAUSTED, budget=exhausted)
            # With `hold`, a reply is only shown once its grounding check passed: no words stream before that.
            stream = None if events is _discard or self.reply_check.holds else Stream(run, events)
            try:
                response = await self.calls.answer(plan, run.conversation_id, state, budget, steps, stream)
            except TimeoutError:
                return Ending(RunStatus.BUDGET_EXHAUSTED, replies.BUDGET_EXHAUSTED, budget="wall_clock")
            except ModelError as error:
                if plan.route.fail_over(error):
                    continue  # the default route answers the turn
                raise
            if plan.route.refuse_answer(response):
                # Nothing runs on the simple model's say-so: its calls and words are dropped, the default route
                # answers from where the turn stood. Words already streamed to the reader are withdrawn.
                if stream is not None and response.text:
                    await stream.sink().retract(MODEL_ESCALATED)
                continue
            if ending := self._after_response(run, response, state, budget):
                return ending

    def _after_response(self, run: Run, response: ModelResponse, state: TurnState, budget: RunBudget) -> Ending | None:
        """Act on the stop reason. Returns how the run ends, or None to continue (with the queued tool calls, if
        the model called tools). Text without words never enters the history: the API refuses it ever after."""
        content = without_blank_text(response.content)
        if response.stop_reason == "tool_use" and any(isinstance(b, ToolUseBlock) for b in content):
            intake = take_in(
                [b for b in content if isinstance(b, ToolUseBlock)],
                run_id=run.id,
                step=budget.model_calls,
                seen_ids=state.seen_call_ids,
                ran_so_far=state.calls_run,
                bounds=self.call_bounds,
            )
            calls = iter(intake.blocks)
            kept = tuple(next(calls) if isinstance(b, ToolUseBlock) else b for b in content)
            state.messages.append(Message(role="assistant", content=kept))
            state.queued_calls = list(intake.blocks)
            state.call_keys = intake.keys
            state.refused_calls = intake.refused
            state.calls_run += len(intake.to_run)
            return None
        return settle(response, content, state)

    async def _run_tool(
        self,
        run: Run,
        principal: Principal,
        call: ToolUseBlock,
        key: str,
        steps: StepLog,
        events: EventSink,
        labels: dict[str, str],
    ) -> CallOutcome:
        progress = {"run_id": run.id, "conversation_id": run.conversation_id, "tool": call.name, "tool_use_id": call.id}
        await events("tool.started", {**progress, "label": tool_label(call.name)})
        started = time.perf_counter()
        with self.telemetry.tool_span(call.name, call.id, call.input, run.conversation_id, labels) as span:
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
                labels=labels,
            )
        steps.add(
            kind=StepKind.TOOL,
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
    ) -> Ending:
        """Hold the call for the customer's confirmation or a human's approval. The transcript records it as
        waiting, so later turns stay coherent."""
        decision = outcome.decision
        assert decision is not None
        kind = HeldKind.CONFIRMATION if outcome.awaiting_confirmation else HeldKind.APPROVAL
        approval = await self.approvals.create(
            run, call, decision, state, trace_context=current_trace_context(), idempotency_key=key, kind=kind
        )
        if kind == HeldKind.CONFIRMATION:
            state.pending_results.append(
                awaiting_result(call.id, approval.id, replies.ASKED_TO_CONFIRM, status=RunStatus.AWAITING_CONFIRMATION)
            )
            state.close_queue(replies.NOT_RUN_AFTER_CONFIRMATION)
            state.flush_results()
            return Ending(RunStatus.AWAITING_CONFIRMATION, replies.confirm_please(approval.summary), approval=approval)
        self.telemetry.approval_opened()
        state.pending_results.append(awaiting_result(call.id, approval.id, decision.customer_message))
        state.close_queue(replies.NOT_RUN_AFTER_PAUSE)
        state.flush_results()
        return Ending(RunStatus.AWAITING_APPROVAL, replies.awaiting_approval(decision), approval=approval)
