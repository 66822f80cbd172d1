"""What a model's answer means for the run, by its stop reason (build-with-claude/handling-stop-reasons), when it
is not a call of our tools: the run ends with words for the customer, or the loop asks the model once more.

Whatever happens, the history stays one the Messages API accepts on the next call: no text block without words,
no empty message, no tool call without its result, and a refused turn is not sent again.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.conversations.steps import StepLog
from agent.conversations.store import RunStore, RunTotals
from agent.conversations.tables import Approval, Run
from agent.held.handoffs import HandoffNote
from agent.held.status import RunStatus
from agent.limits.budget import RunBudget
from agent.models.base import AnswerBlock, Message, ModelResponse, TextBlock, ToolUseBlock
from agent.quality.run_flags import Flag, ending_flags, refused_in
from agent.turn import model_notices, replies
from agent.turn.plan import TurnPlan
from agent.turn.state import TurnState

MAX_PAUSES = 3
"""Continuations of paused turns per run; a model that keeps pausing gets its words so far sent as a cut answer."""
CUT = ("max_tokens", "model_context_window_exceeded")


@dataclass(slots=True)
class Ending:
    status: str
    reply: str
    budget: str | None = None
    error: str | None = None
    approval: Approval | None = None
    message: Message | None = None
    """The run's last message as the model's history keeps it; None: the reply, as the service's own words."""
    refused: bool = False
    """The model refused the turn: it is replaced in the history by a notice (`model_notices`)."""


def words_of(content: tuple[AnswerBlock, ...]) -> str:
    return "".join(block.text for block in content if isinstance(block, TextBlock)).strip()


def settle(response: ModelResponse, content: tuple[AnswerBlock, ...], state: TurnState) -> Ending | None:
    """The ending of an answer that calls none of our tools, or None when the loop asks the model again.
    `content` is the answer less its text blocks without words."""
    reason = response.stop_reason
    words = words_of(content)
    if reason == "pause_turn":
        return _paused(response, content, state)
    if reason == "refusal":
        return Ending(RunStatus.COMPLETED, replies.REFUSED, refused=True)
    if reason in CUT:
        # The words so far are the customer's; a tool call in a cut answer may have cut arguments and is not run.
        return Ending(RunStatus.COMPLETED, f"{words}\n\n{replies.CUT_SHORT}" if words else replies.CUT_SHORT)
    if not words:
        if reason == "end_turn" and _after_results(state) and not state.nudged:
            state.nudged = True
            last = state.messages[-1]
            state.messages[-1] = Message("user", (*last.content, TextBlock(model_notices.ANSWER_THE_RESULTS)))
            return None
        return Ending(RunStatus.FAILED, replies.MODEL_FAILED, error=f"empty answer (stop_reason {reason})")
    kept = tuple(block for block in content if not isinstance(block, ToolUseBlock))
    return Ending(RunStatus.COMPLETED, words, message=Message("assistant", kept))


def _after_results(state: TurnState) -> bool:
    last = state.messages[-1] if state.messages else None
    return last is not None and last.role == "user" and bool(last.tool_results)


def _paused(response: ModelResponse, content: tuple[AnswerBlock, ...], state: TurnState) -> Ending | None:
    """handling-stop-reasons, `pause_turn`: "Send the assistant content back to continue". The paused answer goes
    into the history as it came (server tools' blocks included); a model that cannot continue from it as the last
    message is asked to go on. An empty pause is continued by asking again."""
    kept = tuple(block for block in content if not isinstance(block, ToolUseBlock))
    if state.pauses >= MAX_PAUSES:
        words = words_of(kept)
        return Ending(RunStatus.COMPLETED, f"{words}\n\n{replies.CUT_SHORT}" if words else replies.CUT_SHORT)
    state.pauses += 1
    if kept:
        state.messages.append(Message("assistant", kept))
        if not response.pause_continues_as_is:
            state.messages.append(Message.user_text(model_notices.GO_ON_AFTER_PAUSE))
    return None


def flags_of_ending(ending: Ending, steps: StepLog) -> list[Flag]:
    """The flags a run earns by how it ended (`agent.quality.run_flags`): a fallback's answer, a refusal, a budget
    run out, a failure."""
    return ending_flags(
        status=ending.status,
        budget_exhausted=ending.budget,
        fallback_reason=steps.fallback_reason,
        error=ending.error,
        refused=ending.refused or refused_in(steps.rows),
    )


async def close_run(
    runs: RunStore,
    run: Run,
    ending: Ending,
    state: TurnState,
    budget: RunBudget,
    steps: StepLog,
    plan: TurnPlan,
    trace_id: str | None,
    flags: list[Flag],
    note: HandoffNote | None,
) -> Run:
    """Store how the run ended: its status and reply, its transcript, totals, steps, decisions and flags."""
    return await runs.finish_turn(
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
        model_provider=steps.answered_by[0] if steps.answered_by else plan.route.model.provider,
        model_name=steps.answered_by[1] if steps.answered_by else plan.route.model.name,
        budget_exhausted=ending.budget,
        error=ending.error,
        trace_id=trace_id,
        steps=steps.rows,
        decisions=steps.decisions,
        kb_version=steps.kb_version,
        held=ending.approval,
        fallback_reason=steps.fallback_reason,
        answered_with=plan.answered_with(),
        flags=flags,
        handoff_note=note,
    )
