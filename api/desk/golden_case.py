"""A reviewed conversation as a golden case (the format of `evals.cases`): "Add to the golden cases".

The case holds what replaying the conversation needs and what the reviewer said must and must not happen:

* `inputs.customer` and `inputs.turns`: the customer's messages in order up to the reviewed run, with the
  customer's answers to confirmations and the staff decisions on approvals (with the team's note, and an amended
  amount) where the conversation had them;
* `inputs.store`: the orders the conversation's tool calls named, as they were when the conversation first read
  them (or as the store holds them now), and the customer's payment methods, in the store data's field names,
  so the case replays on a store whose data has moved on;
* `evaluators`: `ToolCalled`/`ToolNotCalled` for the tools, `ReplySays`/`ReplyAvoids` for the words.

Nothing else goes in: no conversation, run or staff ids, no name or email, no reviewer. The desk never imports
`evals` (an optional extra the service does without), so the case is written here as plain YAML data;
`tests/evals/test_desk_cases.py` loads what this writes with the evaluation's own loader and plays it.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from sqlmodel import col, select

from agent import DECLINED, Approval, ApprovalStatus, ChatMessage, Conversation, HeldKind, Run, Step, human_decision
from basics.database import Database
from tools.store.records import order_json, payment_method_json
from tools.store.sanitize import refuse_unstorable
from tools.store.tables import Order, PaymentMethod

MAX_PHRASES = 20
MAX_PHRASE_LENGTH = 200
MAX_NOTE_LENGTH = 500
ORDER_FIELDS = ("order_id", "user_id", "address", "items", "status", "fulfillments", "payment_history")
"""An order in the store data's shape (`tools.store.records.order_json`), as a case's store section holds it."""


class CorrectionError(ValueError):
    """The reviewer's correction cannot make a case; the message says which field and why."""


@dataclass(frozen=True, slots=True)
class Correction:
    """What the reviewer says the assistant should have done."""

    must_call: tuple[str, ...] = ()
    must_not_call: tuple[str, ...] = ()
    must_say: tuple[str, ...] = ()
    """Each phrase must be in some reply (case-insensitive)."""
    must_not_say: tuple[str, ...] = ()
    """No reply may contain any of these phrases (case-insensitive, taken literally)."""
    note: str = ""
    """What went wrong, in the reviewer's words: the case's `about`."""


def _phrases(text: str, field: str) -> tuple[str, ...]:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) > MAX_PHRASES:
        raise CorrectionError(f"{field}: at most {MAX_PHRASES} lines, one phrase a line; there are {len(lines)}")
    for line in lines:
        if len(line) > MAX_PHRASE_LENGTH:
            raise CorrectionError(f"{field}: a phrase can be at most {MAX_PHRASE_LENGTH} characters")
        try:
            refuse_unstorable(line)
        except ValueError as problem:
            raise CorrectionError(f"{field}: {problem}") from None
    return tuple(dict.fromkeys(lines))


def _tools(chosen: Iterable[str], known: Iterable[str], field: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(chosen))
    if unknown := sorted(set(names) - set(known)):
        raise CorrectionError(f"{field}: no tool is called {', '.join(repr(n[:60]) for n in unknown[:3])}")
    return names


def read_correction(
    must_call: Iterable[str],
    must_not_call: Iterable[str],
    must_say: str,
    must_not_say: str,
    note: str,
    *,
    known_tools: Iterable[str],
) -> Correction:
    """The correction as the form sent it, checked: known tools, bounded phrases, at least one expectation."""
    known = list(known_tools)
    correction = Correction(
        must_call=_tools(must_call, known, "Tools it must call"),
        must_not_call=_tools(must_not_call, known, "Tools it must not call"),
        must_say=_phrases(must_say, "Words the reply must contain"),
        must_not_say=_phrases(must_not_say, "Words the reply must not contain"),
        note=note.strip(),
    )
    if both := sorted(set(correction.must_call) & set(correction.must_not_call)):
        raise CorrectionError(f"A tool cannot be both required and forbidden: {', '.join(both)}")
    if len(correction.note) > MAX_NOTE_LENGTH:
        raise CorrectionError(f"What went wrong: at most {MAX_NOTE_LENGTH} characters")
    try:
        refuse_unstorable(correction.note)
    except ValueError as problem:
        raise CorrectionError(f"What went wrong: {problem}") from None
    if not (correction.must_call or correction.must_not_call or correction.must_say or correction.must_not_say):
        raise CorrectionError("Say at least one thing that must or must not happen.")
    return correction


def evaluators(correction: Correction) -> list[dict[str, Any]]:
    return [
        *({"ToolCalled": {"tool": tool}} for tool in correction.must_call),
        *({"ToolNotCalled": {"tool": tool}} for tool in correction.must_not_call),
        *({"ReplySays": {"any_of": [phrase]}} for phrase in correction.must_say),
        *(
            [{"ReplyAvoids": {"patterns": [re.escape(p) for p in correction.must_not_say]}}]
            if correction.must_not_say
            else []
        ),
    ]


async def conversation_turns(database: Database, conversation_id: str, up_to: Run) -> list[dict[str, Any]]:
    """The customer's messages, confirmations and staff decisions of the conversation, in order, up to (and
    including) what started the run `up_to`."""
    async with database.session(readonly=True) as db:
        runs = (
            await db.exec(
                select(Run)
                .where(col(Run.conversation_id) == conversation_id, col(Run.started_at) <= up_to.started_at)
                .order_by(col(Run.started_at))
            )
        ).all()
        said = (
            await db.exec(
                select(ChatMessage)
                .where(col(ChatMessage.conversation_id) == conversation_id, col(ChatMessage.role) == "customer")
                .order_by(col(ChatMessage.id))
            )
        ).all()
        held = (await db.exec(select(Approval).where(col(Approval.conversation_id) == conversation_id))).all()
    message_of = {m.run_id: m.content for m in said if m.run_id}
    resumed_by = {a.resumed_run_id: a for a in held if a.resumed_run_id}
    turns: list[dict[str, Any]] = []
    for run in runs:
        if run.id in message_of:
            turns.append({"say": message_of[run.id]})
        elif (decided := resumed_by.get(run.id)) is not None:
            turns.append(_decision_turn(decided))
    return turns


def _decision_turn(held: Approval) -> dict[str, Any]:
    decision = human_decision(held)
    if held.kind == HeldKind.CONFIRMATION:
        return {"confirm": "decline" if decision == DECLINED else "confirm"}
    turn: dict[str, Any] = {"staff": "reject" if decision == ApprovalStatus.REJECTED else "approve"}
    changed = {k: v for k, v in (held.executed_arguments or {}).items() if held.arguments.get(k) != v}
    if turn["staff"] == "approve" and changed:
        turn.update(staff="amend", arguments=changed)
    if held.note:  # the team's words to the customer: the model reads them in the replay too
        turn["note"] = held.note
    if held.decided_role == "supervisor":
        turn["role"] = "supervisor"
    return turn


async def store_snapshot(database: Database, customer_id: str, run_ids: list[str]) -> dict[str, Any]:
    """The orders the runs' tool calls named, each as the conversation first read it (the store's current record
    when it never read it), and the customer's payment methods."""
    async with database.session(readonly=True) as db:
        calls = (
            await db.exec(
                select(Step).where(col(Step.run_id).in_(run_ids), col(Step.kind) == "tool").order_by(col(Step.id))
            )
        ).all()
        named = list(
            dict.fromkeys(
                str(c.arguments["order_id"])
                for c in calls
                if isinstance(c.arguments, dict) and isinstance(c.arguments.get("order_id"), str)
            )
        )
        first_read: dict[str, dict[str, Any]] = {}
        for call in calls:
            result = call.result
            if call.tool == "get_order_details" and isinstance(result, dict) and all(k in result for k in ORDER_FIELDS):
                first_read.setdefault(str(result["order_id"]), {k: result[k] for k in ORDER_FIELDS})
        orders = (
            await db.exec(select(Order).where(col(Order.order_id).in_(named), col(Order.customer_id) == customer_id))
        ).all()
        methods = (await db.exec(select(PaymentMethod).where(col(PaymentMethod.customer_id) == customer_id))).all()
    stored = {o.order_id: order_json(o) for o in orders}
    snapshot: dict[str, Any] = {}
    if mine := [i for i in named if i in stored]:  # another customer's order the model was asked about stays out
        snapshot["orders"] = {i: first_read.get(i, stored[i]) for i in mine}
    if methods:
        snapshot["payment_methods"] = {m.id: payment_method_json(m) for m in methods}
    return snapshot


def case_name(now: datetime) -> str:
    """A new case's name, also its file's: when it was made, and a random part so two never clash."""
    return f"reviewed_{now:%Y%m%d_%H%M%S}_{secrets.token_hex(3)}"


async def golden_case(
    database: Database,
    conversation: Conversation,
    run: Run,
    correction: Correction,
    *,
    flags: list[str],
    now: datetime,
) -> tuple[str, str]:
    """The case for `run` of `conversation` with the reviewer's correction: its name and its YAML file's text."""
    turns = await conversation_turns(database, conversation.id, run)
    if not turns:
        raise CorrectionError("This run has no customer message to replay.")
    async with database.session(readonly=True) as db:
        run_ids = list(
            (
                await db.exec(
                    select(Run.id).where(
                        col(Run.conversation_id) == conversation.id, col(Run.started_at) <= run.started_at
                    )
                )
            ).all()
        )
    inputs: dict[str, Any] = {"customer": conversation.customer_id}
    if store := await store_snapshot(database, conversation.customer_id, run_ids):
        inputs["store"] = store
    inputs["turns"] = turns
    name = case_name(now)
    about = "From the desk's review"
    if flags:
        about += f" (flagged: {', '.join(flags)})"
    if correction.note:
        about += f": {correction.note}"
    case = {
        "name": name,
        "inputs": inputs,
        "metadata": {"about": about, "covers": ["reviewed"]},
        "evaluators": evaluators(correction),
    }
    header = '# A golden case written by the support desk\'s review queue ("Add to the golden cases").\n'
    body = yaml.safe_dump({"name": name, "cases": [case]}, sort_keys=False, allow_unicode=True, width=120)
    return name, header + body


def write_case(folder: Path, name: str, text: str) -> Path:
    """Save the case as `<name>.yaml` in `folder`, never over an existing file. `name` is `case_name`'s."""
    path = folder / f"{name}.yaml"
    with path.open("x", encoding="utf-8") as out:
        out.write(text)
    return path
