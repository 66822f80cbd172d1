"""What must hold after a golden case: one pydantic-evals `Evaluator` per concept, each on the `Transcript`.

Cases name them in YAML (`- ToolCalled: {tool: get_order_details}`); `DEFAULT_EVALUATORS` apply to every case.
Each returns an `EvaluationReason` whose reason says what was seen, so a failing case explains itself.

    tool calls         ToolCalled, ToolNotCalled (the run's recorded steps), TracedSpan (the OpenTelemetry spans),
                       StepsMatchSpans (both records tell the same story)
    policy             PolicyOutcome (the gate's decision on a call), HeldCall (a confirmation or approval raised,
                       its approver tier and how it ended)
    store              StoreState (fields of the customer's orders and account after the case), StoreUnchanged
    replies            ReplySays, ReplyAvoids, ShortReplies, NoInternalIds, NoOtherCustomersData, NoRepeatedReply
                       (in `evals.reply_checks`), AnsweredByTarget
    the run            RunStatus, TurnsAnswered
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from pydantic_evals.evaluators import EvaluationReason, Evaluator, EvaluatorContext
from pydantic_evals.otel.span_tree import SpanNode, SpanQuery, SpanTree

from agent import HeldKind
from evals.cases import CaseInfo, Conversation
from evals.reply_checks import (
    NoInternalIds,
    NoOtherCustomersData,
    NoRepeatedReply,
    ReplyAvoids,
    ReplySays,
    ShortReplies,
    verdict,
)
from evals.transcript import Transcript

Context = EvaluatorContext[Conversation, Transcript, CaseInfo]


def _subset(expected: dict[str, Any], actual: Any) -> bool:
    """Every expected key is in `actual` with an equal value (lists compared as sets of their items)."""
    if not isinstance(actual, dict):
        return False
    for key, want in expected.items():
        got = actual.get(key)
        if isinstance(want, list) and isinstance(got, list):
            if sorted(map(json.dumps, want)) != sorted(map(json.dumps, got)):
                return False
        elif got != want:
            return False
    return True


# --- tool calls --------------------------------------------------------------------------------------------------


@dataclass(repr=False)
class ToolCalled(Evaluator[Conversation, Transcript, CaseInfo]):
    """The model called `tool` (with at least these `arguments`), as the run's steps record it."""

    tool: str
    arguments: dict[str, Any] | None = None

    def get_default_evaluation_name(self) -> str:
        return f"ToolCalled({self.tool})"

    def evaluate(self, ctx: Context) -> EvaluationReason:
        calls = ctx.output.calls_of(self.tool)
        if not calls:
            made = sorted({c.tool for c in ctx.output.tool_calls}) or ["none"]
            return verdict(False, f"{self.tool} was not called; calls made: {', '.join(made)}")
        if self.arguments is None or any(_subset(self.arguments, c.arguments) for c in calls):
            return verdict(True, f"{self.tool} called {len(calls)} time(s)")
        seen = "; ".join(json.dumps(c.arguments) for c in calls)
        return verdict(False, f"{self.tool} called, but never with {json.dumps(self.arguments)}: {seen}")


@dataclass(repr=False)
class ToolNotCalled(Evaluator[Conversation, Transcript, CaseInfo]):
    """The model never called `tool` (not even one the policy would have refused)."""

    tool: str

    def get_default_evaluation_name(self) -> str:
        return f"ToolNotCalled({self.tool})"

    def evaluate(self, ctx: Context) -> EvaluationReason:
        calls = ctx.output.calls_of(self.tool)
        if calls:
            return verdict(False, f"{self.tool} was called: {json.dumps([c.arguments for c in calls])}")
        return verdict(True, f"{self.tool} not called")


def span_tree(transcript: Transcript) -> SpanTree:
    """The transcript's spans as a pydantic-evals `SpanTree`, so cases can use its `SpanQuery` language."""
    tree = SpanTree()
    tree.add_spans(
        [
            SpanNode(
                name=s.name,
                trace_id=int(s.trace_id, 16),
                span_id=int(s.span_id, 16),
                parent_span_id=int(s.parent_span_id, 16) if s.parent_span_id else None,
                start_timestamp=datetime.fromtimestamp(s.start_ns / 1e9, UTC),
                end_timestamp=datetime.fromtimestamp(s.end_ns / 1e9, UTC),
                attributes=s.attributes,
            )
            for s in transcript.spans
        ]
    )
    return tree


@dataclass(repr=False)
class TracedSpan(Evaluator[Conversation, Transcript, CaseInfo]):
    """A span matching `query` (pydantic-evals' `SpanQuery`, e.g. `{name_equals: "execute_tool
    cancel_pending_order", has_attributes: {policy.outcome: allow}}`) is (or, with `present: false`, is not)
    in the case's trace. Like pydantic-evals' `HasMatchingSpan`, on the spans the harness captured."""

    query: dict[str, Any]
    present: bool = True

    def evaluate(self, ctx: Context) -> EvaluationReason:
        found = span_tree(ctx.output).any(cast(SpanQuery, self.query))
        names = sorted({s.name for s in ctx.output.spans if s.name.startswith("execute_tool")}) or ["no tool spans"]
        ok = found is self.present
        return verdict(ok, f"{'found' if found else 'no'} span matching {self.query}; tool spans: {', '.join(names)}")


@dataclass(repr=False)
class StepsMatchSpans(Evaluator[Conversation, Transcript, CaseInfo]):
    """Every tool the steps record as called has `execute_tool` spans, and every traced tool has steps. (Counts
    differ by design: a held call has one span when it is held and another when it runs after the decision.)"""

    def evaluate(self, ctx: Context) -> EvaluationReason:
        steps = sorted({c.tool for c in ctx.output.tool_calls})
        spans = sorted(
            {s.name.removeprefix("execute_tool ") for s in ctx.output.spans if s.name.startswith("execute_tool ")}
        )
        return verdict(steps == spans, f"steps: {steps}; spans: {spans}")


# --- policy ------------------------------------------------------------------------------------------------------


@dataclass(repr=False)
class PolicyOutcome(Evaluator[Conversation, Transcript, CaseInfo]):
    """The gate decided `outcome` (`allow | deny | needs_approval`) on a call of `tool` (under `rule`)."""

    tool: str
    outcome: str
    rule: str | None = None

    def get_default_evaluation_name(self) -> str:
        return f"PolicyOutcome({self.tool})"

    def evaluate(self, ctx: Context) -> EvaluationReason:
        calls = ctx.output.calls_of(self.tool)
        decided = [(c.decision, c.rule) for c in calls]
        ok = any(d == self.outcome and (self.rule is None or r == self.rule) for d, r in decided)
        return verdict(ok, f"decisions on {self.tool}: {decided or 'no call'}")


@dataclass(repr=False)
class HeldCall(Evaluator[Conversation, Transcript, CaseInfo]):
    """A call of `tool` was held: `kind` `confirmation` (the customer's) or `approval` (staff, of `approver`
    tier), ending in `status` (`approved`, `executed`, `rejected`, `withdrawn`, ...) when given."""

    tool: str
    kind: str = HeldKind.APPROVAL
    approver: str | None = None
    status: str | None = None

    def get_default_evaluation_name(self) -> str:
        return f"HeldCall({self.tool})"

    def evaluate(self, ctx: Context) -> EvaluationReason:
        held = [h for h in ctx.output.held_calls if h.tool == self.tool and h.kind == self.kind]
        seen = [(h.approver_role, h.status) for h in held]
        ok = any(
            (self.approver is None or h.approver_role == self.approver)
            and (self.status is None or h.status == self.status)
            for h in held
        )
        return verdict(ok, f"{self.kind}s held for {self.tool} (approver, status): {seen or 'none'}")


# --- the store ---------------------------------------------------------------------------------------------------


def _lookup(state: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(state, dict) or part not in state:
            raise KeyError(path)
        state = state[part]
    return state


@dataclass(repr=False)
class StoreState(Evaluator[Conversation, Transcript, CaseInfo]):
    """Fields of the customer's account after the case, by dotted path into the final state, e.g.
    `orders.#W6247578.status: cancelled` or `address.city: Austin`."""

    expect: dict[str, Any]

    def evaluate(self, ctx: Context) -> EvaluationReason:
        wrong: list[str] = []
        for path, want in self.expect.items():
            try:
                got = _lookup(ctx.output.final_state, path)
            except KeyError:
                wrong.append(f"{path} missing")
                continue
            if got != want:
                wrong.append(f"{path} is {got!r}, not {want!r}")
        return verdict(not wrong, "; ".join(wrong) or "as expected")


@dataclass(repr=False)
class StoreUnchanged(Evaluator[Conversation, Transcript, CaseInfo]):
    """The case changed nothing in the customer's account."""

    def evaluate(self, ctx: Context) -> EvaluationReason:
        before, after = ctx.output.initial_state, ctx.output.final_state
        changed = [
            f"{part}.{key}"
            for part in ("address", "payment_methods", "orders")
            for key in sorted(set(before.get(part, {})) | set(after.get(part, {})))
            if before.get(part, {}).get(key) != after.get(part, {}).get(key)
        ]
        return verdict(not changed, f"changed: {', '.join(changed)}" if changed else "nothing changed")


# --- replies: evals.reply_checks ----------------------------------------------------------------------------------


@dataclass(repr=False)
class AnsweredByTarget(Evaluator[Conversation, Transcript, CaseInfo]):
    """Every run was answered by the model under evaluation, not by a fallback (with a remote model, the
    service falls back to the offline model when the provider fails: that must not pass as the model's work)."""

    def evaluate(self, ctx: Context) -> EvaluationReason:
        provider = ctx.output.model.partition(":")[0]
        answered = [r for r in ctx.output.runs if r.model_calls]  # a resumed run may end without a model call
        others = sorted({r.model for r in answered if r.model.partition(":")[0] != provider})
        return verdict(not others, f"answered by {others}" if others else f"all runs by {provider}")


# --- the run -----------------------------------------------------------------------------------------------------


@dataclass(repr=False)
class RunStatus(Evaluator[Conversation, Transcript, CaseInfo]):
    """The run that answered turn `turn` (from 1; default the last turn) ended in `status`."""

    status: str
    turn: int | None = None

    def get_default_evaluation_name(self) -> str:
        return f"RunStatus(turn {self.turn})" if self.turn else "RunStatus"

    def evaluate(self, ctx: Context) -> EvaluationReason:
        turns = ctx.output.turns
        index = (self.turn or len(turns)) - 1
        got = turns[index].run_status if 0 <= index < len(turns) else None
        return verdict(got == self.status, f"turn {index + 1} ended {got}")


@dataclass(repr=False)
class TurnsAnswered(Evaluator[Conversation, Transcript, CaseInfo]):
    """The harness played every turn and the service answered each (no 5xx, nothing awaited that never came)."""

    def evaluate(self, ctx: Context) -> EvaluationReason:
        if ctx.output.error:
            return verdict(False, f"not played: {ctx.output.error}")
        bad = [f"turn {i}: {t.error or t.http_status}" for i, t in enumerate(ctx.output.turns, 1) if t.error]
        return verdict(not bad, "; ".join(bad) or f"{len(ctx.output.turns)} turns answered")


DEFAULT_EVALUATORS: tuple[Evaluator[Conversation, Transcript, CaseInfo], ...] = (
    TurnsAnswered(),
    AnsweredByTarget(),
    StepsMatchSpans(),
    NoInternalIds(),
    NoOtherCustomersData(),
    NoRepeatedReply(),
)
"""What holds for every golden case, whatever its topic."""

EVALUATOR_TYPES: tuple[type[Evaluator[Conversation, Transcript, CaseInfo]], ...] = (
    ToolCalled,
    ToolNotCalled,
    TracedSpan,
    StepsMatchSpans,
    PolicyOutcome,
    HeldCall,
    StoreState,
    StoreUnchanged,
    ReplySays,
    ReplyAvoids,
    ShortReplies,
    NoInternalIds,
    NoOtherCustomersData,
    NoRepeatedReply,
    RunStatus,
    TurnsAnswered,
    AnsweredByTarget,
)
"""Every evaluator a YAML case may name."""
