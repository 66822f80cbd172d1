"""What the customer was told, checked after a golden case: wording a reply must or must not have, its length,
no internal ids, no other customer's data, no reply said twice in a row. Part of `evals.evaluators`' set."""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass
from functools import cache
from typing import Any, cast

from pydantic_evals.evaluators import EvaluationReason, Evaluator, EvaluatorContext

from agent import RunStatus
from evals.cases import CaseInfo, Conversation
from evals.transcript import Transcript
from tools.store.loader import DEFAULT_FIXTURE

Context = EvaluatorContext[Conversation, Transcript, CaseInfo]


def verdict(ok: bool, reason: str) -> EvaluationReason:
    return EvaluationReason(value=ok, reason=reason)


def replies(ctx: Context) -> list[str]:
    return ctx.output.replies


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
            texts = replies(ctx)
        said = " ".join(texts)
        hits = [w for w in self.any_of if w.lower() in said.lower()]
        return verdict(bool(hits), f"said {hits}" if hits else f"none of {self.any_of} in: {said[:300]!r}")


@dataclass(repr=False)
class ReplyAvoids(Evaluator[Conversation, Transcript, CaseInfo]):
    """No reply matches any of `patterns` (regular expressions, case-insensitive): promises the policy does not
    allow, leaked secrets, words a reply must never use."""

    patterns: list[str]

    def evaluate(self, ctx: Context) -> EvaluationReason:
        said = "\n".join(replies(ctx))
        hits = [m.group(0) for p in self.patterns if (m := re.search(p, said, re.IGNORECASE))]
        return verdict(not hits, f"said {hits}" if hits else "none said")


@dataclass(repr=False)
class ShortReplies(Evaluator[Conversation, Transcript, CaseInfo]):
    """Every reply is at most `max_words` words (small talk gets a short answer, not the full greeting)."""

    max_words: int = 40

    def evaluate(self, ctx: Context) -> EvaluationReason:
        lengths = [len(r.split()) for r in replies(ctx)]
        return verdict(all(n <= self.max_words for n in lengths), f"reply lengths in words: {lengths}")


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
        hits = sorted({m.group(0) for r in replies(ctx) for m in INTERNAL_ID.finditer(r)})
        return verdict(not hits, f"internal ids shown: {hits}" if hits else "none shown")


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
        said = "\n".join(replies(ctx))
        typed = " ".join(t.say or "" for t in ctx.inputs.turns)
        leaks: list[str] = []
        for user_id, user in _store()["users"].items():
            if user_id == me:
                continue
            leaks += [s for s in _personal_strings(user) if s in said]
        for order_id in set(re.findall(r"#W\d{7}", said)) - set(re.findall(r"#W\d{7}", typed)):
            if _store()["orders"].get(order_id, {}).get("user_id") not in (me, None):
                leaks.append(order_id)
        return verdict(not leaks, f"other customers' data: {sorted(set(leaks))}" if leaks else "none")


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
            if a == b and not a_status == b_status == RunStatus.AWAITING_CONFIRMATION
        ]
        return verdict(not repeated, f"repeated: {repeated[0][:120]!r}" if repeated else "no repeats")
