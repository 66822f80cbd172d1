"""What must hold after a golden case: one pydantic-evals `Evaluator` per concept, each on the `Transcript`.

Cases name them in YAML (`- ToolCalled: {tool: get_order_details}`); `DEFAULT_EVALUATORS` apply to every case.
Each returns an `EvaluationReason` whose reason says what was seen, so a failing case explains itself.

    tool calls         ToolCalled, ToolNotCalled (the run's recorded steps), TracedSpan (the OpenTelemetry spans),
                       StepsMatchSpans (both records tell the same story)
    policy             PolicyOutcome (the gate's decision on a call), HeldCall (a confirmation or approval raised,
                       its approver tier and how it ended)
    store              StoreState (fields of the customer's orders and account after the case), StoreUnchanged
    replies            ReplySays, ReplyAvoids, ShortReplies, NoInternalIds, NoOtherCustomersData, NoRepeatedReply
    the run            RunStatus, TurnsAnswered
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any, cast

from pydantic_evals.evaluators import EvaluationReason, Evaluator, EvaluatorContext
from pydantic_evals.otel.span_tree import SpanNode, SpanQuery, SpanTree

from evals.cases import CaseInfo, Conversation
from evals.transcript import Transcript
from tools.store.loader import DEFAULT_FIXTURE

Context = EvaluatorContext[Conversation, Transcript, CaseInfo]


def _verdict(ok: bool, reason: str) -> EvaluationReason:
    return EvaluationReason(value=ok, reason=reason)


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


def _replies(ctx: Context) -> list[str]:
    return ctx.output.replies


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
            return _verdict(False, f"{self.tool} was not called; calls made: {', '.join(made)}")
        if self.arguments is None or any(_subset(self.arguments, c.arguments) for c in calls):
            return _verdict(True, f"{self.tool} called {len(calls)} time(s)")
        seen = "; ".join(json.dumps(c.arguments) for c in calls)
        return _verdict(False, f"{self.tool} called, but never with {json.dumps(self.arguments)}: {seen}")


@dataclass(repr=False)
class ToolNotCalled(Evaluator[Conversation, Transcript, CaseInfo]):
    """The model never called `tool` (not even one the policy would have refused)."""

    tool: str

    def get_default_evaluation_name(self) -> str:
        return f"ToolNotCalled({self.tool})"

    def evaluate(self, ctx: Context) -> EvaluationReason:
        calls = ctx.output.calls_of(self.tool)
        if calls:
            return _verdict(False, f"{self.tool} was called: {json.dumps([c.arguments for c in calls])}")
        return _verdict(True, f"{self.tool} not called")


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
        return _verdict(ok, f"{'found' if found else 'no'} span matching {self.query}; tool spans: {', '.join(names)}")


@dataclass(repr=False)
class StepsMatchSpans(Evaluator[Conversation, Transcript, CaseInfo]):
    """Every tool the steps record as called has `execute_tool` spans, and every traced tool has steps. (Counts
    differ by design: a held call has one span when it is held and another when it runs after the decision.)"""

    def evaluate(self, ctx: Context) -> EvaluationReason:
        steps = sorted({c.tool for c in ctx.output.tool_calls})
        spans = sorted(
            {s.name.removeprefix("execute_tool ") for s in ctx.output.spans if s.name.startswith("execute_tool ")}
        )
        return _verdict(steps == spans, f"steps: {steps}; spans: {spans}")


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
        return _verdict(ok, f"decisions on {self.tool}: {decided or 'no call'}")


@dataclass(repr=False)
class HeldCall(Evaluator[Conversation, Transcript, CaseInfo]):
    """A call of `tool` was held: `kind` `confirmation` (the customer's) or `approval` (staff, of `approver`
    tier), ending in `status` (`approved`, `executed`, `rejected`, `withdrawn`, ...) when given."""

    tool: str
    kind: str = "approval"
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
        return _verdict(ok, f"{self.kind}s held for {self.tool} (approver, status): {seen or 'none'}")


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
        return _verdict(not wrong, "; ".join(wrong) or "as expected")


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
        return _verdict(not changed, f"changed: {', '.join(changed)}" if changed else "nothing changed")


# --- replies -----------------------------------------------------------------------------------------------------


@dataclass(repr=False)
class ReplySays(Evaluator[Conversation, Transcript, CaseInfo]):
    """Some reply (or the reply to turn `turn`, counted from 1) says one of `any_of` (case-insensitive)."""

    any_of: list[str]
    turn: int | None = None

    def evaluate(self, ctx: Context) -> EvaluationReason:
        if self.turn is not None:
            turns = ctx.output.turns
            texts = [turns[self.turn - 1].reply or ""] if len(turns) >= self.turn else []
        else:
            texts = _replies(ctx)
        said = " ".join(texts)
        hits = [w for w in self.any_of if w.lower() in said.lower()]
        return _verdict(bool(hits), f"said {hits}" if hits else f"none of {self.any_of} in: {said[:300]!r}")


@dataclass(repr=False)
class ReplyAvoids(Evaluator[Conversation, Transcript, CaseInfo]):
    """No reply matches any of `patterns` (regular expressions, case-insensitive): promises the policy does not
    allow, leaked secrets, words a reply must never use."""

    patterns: list[str]

    def evaluate(self, ctx: Context) -> EvaluationReason:
        said = "\n".join(_replies(ctx))
        hits = [m.group(0) for p in self.patterns if (m := re.search(p, said, re.IGNORECASE))]
        return _verdict(not hits, f"said {hits}" if hits else "none said")


@dataclass(repr=False)
class ShortReplies(Evaluator[Conversation, Transcript, CaseInfo]):
    """Every reply is at most `max_words` words (small talk gets a short answer, not the full greeting)."""

    max_words: int = 40

    def evaluate(self, ctx: Context) -> EvaluationReason:
        lengths = [len(r.split()) for r in _replies(ctx)]
        return _verdict(all(n <= self.max_words for n in lengths), f"reply lengths in words: {lengths}")


INTERNAL_ID = re.compile(
    r"\b(?:gift_card|credit_card|paypal)_\d{5,}\b|(?<![\w#$.])\d{10}(?![\w.])|(?<![\w#$.,])\d{7}(?!\w|[.,]\d)"
)
"""Payment-method ids (`gift_card_1725971`), their 7 digits alone ("ending 1725971" reads like a card number
that is not the customer's) and 10-digit item ids: the store's keys, never for customers' eyes. Order numbers
(`#W1234567`) and amounts are not matched."""


@dataclass(repr=False)
class NoInternalIds(Evaluator[Conversation, Transcript, CaseInfo]):
    """No reply shows an internal id (payment-method ids, 10-digit item ids)."""

    def evaluate(self, ctx: Context) -> EvaluationReason:
        hits = sorted({m.group(0) for r in _replies(ctx) for m in INTERNAL_ID.finditer(r)})
        return _verdict(not hits, f"internal ids shown: {hits}" if hits else "none shown")


@cache
def _store() -> dict[str, Any]:
    return cast(dict[str, Any], json.loads(DEFAULT_FIXTURE.read_text()))


def _personal_strings(user: dict[str, Any]) -> list[str]:
    name = user["name"]
    return [f"{name['first_name']} {name['last_name']}", user["email"], user["address"]["address1"]]


@dataclass(repr=False)
class NoOtherCustomersData(Evaluator[Conversation, Transcript, CaseInfo]):
    """No reply carries another customer's name, email, street address, or an order of theirs that the
    customer did not name themselves."""

    def evaluate(self, ctx: Context) -> EvaluationReason:
        me = ctx.inputs.customer
        said = "\n".join(_replies(ctx))
        typed = " ".join(t.say or "" for t in ctx.inputs.turns)
        leaks: list[str] = []
        for user_id, user in _store()["users"].items():
            if user_id == me:
                continue
            leaks += [s for s in _personal_strings(user) if s in said]
        for order_id in set(re.findall(r"#W\d{7}", said)) - set(re.findall(r"#W\d{7}", typed)):
            if _store()["orders"].get(order_id, {}).get("user_id") not in (me, None):
                leaks.append(order_id)
        return _verdict(not leaks, f"other customers' data: {sorted(set(leaks))}" if leaks else "none")


@dataclass(repr=False)
class NoRepeatedReply(Evaluator[Conversation, Transcript, CaseInfo]):
    """No two replies in a row are the same: the agent does not loop on one question. A confirmation card shown
    again is not a loop: the customer's message in between withdrew the first one (a clarification, or "yes"
    typed instead of pressing Confirm), and the card they can press is the same."""

    def evaluate(self, ctx: Context) -> EvaluationReason:
        answered = [(t.reply.strip(), t.run_status) for t in ctx.output.turns if t.reply]
        repeated = [
            a
            for (a, a_status), (b, b_status) in itertools.pairwise(answered)
            if a == b and not a_status == b_status == "awaiting_confirmation"
        ]
        return _verdict(not repeated, f"repeated: {repeated[0][:120]!r}" if repeated else "no repeats")


@dataclass(repr=False)
class AnsweredByTarget(Evaluator[Conversation, Transcript, CaseInfo]):
    """Every run was answered by the model under evaluation, not by a fallback (with a remote model, the
    service falls back to the offline model when the provider fails: that must not pass as the model's work)."""

    def evaluate(self, ctx: Context) -> EvaluationReason:
        provider = ctx.output.model.partition(":")[0]
        answered = [r for r in ctx.output.runs if r.model_calls]  # a resumed run may end without a model call
        others = sorted({r.model for r in answered if r.model.partition(":")[0] != provider})
        return _verdict(not others, f"answered by {others}" if others else f"all runs by {provider}")


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
        return _verdict(got == self.status, f"turn {index + 1} ended {got}")


@dataclass(repr=False)
class TurnsAnswered(Evaluator[Conversation, Transcript, CaseInfo]):
    """The harness played every turn and the service answered each (no 5xx, nothing awaited that never came)."""

    def evaluate(self, ctx: Context) -> EvaluationReason:
        if ctx.output.error:
            return _verdict(False, f"not played: {ctx.output.error}")
        bad = [f"turn {i}: {t.error or t.http_status}" for i, t in enumerate(ctx.output.turns, 1) if t.error]
        return _verdict(not bad, "; ".join(bad) or f"{len(ctx.output.turns)} turns answered")


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
