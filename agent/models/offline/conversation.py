"""The offline model's view of a conversation: the customer's current thread, and what this run has looked up.

The model keeps no memory between calls: everything it knows it reads from the messages it is sent, as any
model of the Messages API does. Two ideas make that work:

- a *thread* is the customer's messages since the assistant last gave a final answer. The offline model ends
  every question it asks with "?" and every final answer without one, so "yes" or "#W1234567" after a
  question continues the request it answers, and a new message after a final answer starts afresh. A
  confirmation card counts as a question: a message written instead of pressing a button withdraws the card
  (the service does that), and the request goes on with what the message adds ("the one that was delivered,
  #W4435622" proposes the action again with it) or ends ("actually never mind");
- *facts* are the tool results of the current run only, so every answer rests on data read just now.

Beyond the thread it reads two things from earlier turns: the orders the assistant showed last, so "cancel
it" or "the second one" act on what the customer just saw, and a request the customer made in the same
message as another, which the assistant quotes back ('You also asked: "..."') when the first is finished.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from typing import Any

from agent.models.base import Message, TextBlock, ToolUseBlock
from agent.models.offline.reading.intents import Intent
from agent.models.offline.reading.patterns import pattern
from agent.models.offline.reading.text import Reading, Request, Slots, read, read_requests
from agent.models.offline.wording import ALSO_ASKED
from agent.turn.replies import NOTICE_PREFIX
from agent.turn.window import OMITTED_PREFIX

_ORDER_IDS = pattern(r"#W\d{7}\b")
_QUOTED_REQUEST = pattern(re.escape(ALSO_ASKED) + r' "([^"]*+)"')


@dataclass(frozen=True, slots=True)
class ToolOutcome:
    name: str
    arguments: Any
    ok: bool
    content: Any


@dataclass(slots=True)
class Facts:
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    profile: dict[str, Any] | None = None
    products: dict[str, dict[str, Any]] = field(default_factory=dict)
    help_centre: dict[str, Any] | None = None
    """The result of this run's help-centre search."""
    catalogue: dict[str, Any] | None = None
    """The store's product names, when this run listed them."""
    failures: list[ToolOutcome] = field(default_factory=list)
    looked_up: set[tuple[str, str]] = field(default_factory=set)
    """(tool, key) pairs already called in this run, so a failed lookup is never repeated."""

    def learn(self, outcome: ToolOutcome) -> None:
        key = _lookup_key(outcome.name, outcome.arguments)
        self.looked_up.add((outcome.name, key))
        if not outcome.ok:
            self.failures.append(outcome)
            return
        content = outcome.content if isinstance(outcome.content, dict) else {}
        if outcome.name == "get_customer_profile":
            self.profile = content
        elif outcome.name == "search_help_centre":
            self.help_centre = content
        elif outcome.name == "list_product_types":
            self.catalogue = content
        elif outcome.name == "get_product_details" and "product_id" in content:
            self.products[str(content["product_id"])] = content
        elif "order_id" in content and "items" in content:
            self.orders[str(content["order_id"])] = content


def _lookup_key(name: str, arguments: Any) -> str:
    if not isinstance(arguments, dict):
        return ""
    return str(arguments.get("order_id") or arguments.get("product_id") or "")


@dataclass(slots=True)
class Conversation:
    intent: Intent | None
    slots: Slots
    latest: Reading
    """The customer's newest message on its own."""
    facts: Facts
    last_outcomes: list[ToolOutcome]
    """Results of the tool calls this model made in its previous answer, if the run is mid-way."""
    notice: dict[str, Any] | None = None
    """A team member's decision on a held action, when the newest message is the service's notice of it."""
    proposed: dict[str, Any] | None = None
    """The arguments this model proposed for the held action the notice is about (an approver may amend them)."""
    deferred: tuple[Request, ...] = ()
    """Requests from the same message as the current one, left for after it."""
    asked: tuple[str, ...] = ()
    """The questions the assistant asked in this thread, oldest first."""
    previous_reply: str = ""
    """The assistant's last words to the customer before this message."""

    def looked_up(self, tool: str, key: str = "") -> bool:
        return (tool, key) in self.facts.looked_up


def read_conversation(messages: list[Message]) -> Conversation:
    run_start = _last_customer_text(messages)
    notice = _notice(_texts(messages[run_start]) if messages else "")
    proposal = _proposal(messages, notice)
    # A decision notice continues the request that led to the held call, so its thread is that request's.
    thread_end = _customer_text_before(messages, proposal[0]) if proposal else run_start
    thread = _thread(messages, thread_end)
    intent, slots, deferred = _requests(thread)
    shown = _shown_orders(messages[:thread_end])
    latest = thread[-1] if thread else Reading(intent=None)
    if not slots.order_ids and shown:
        intent, slots = _refer_back(intent, slots, shown)
    return Conversation(
        intent=intent,
        slots=slots,
        latest=latest,
        facts=_facts(messages[run_start:]),
        last_outcomes=_last_outcomes(messages),
        notice=notice,
        proposed=proposal[1] if proposal else None,
        deferred=deferred,
        asked=_asked(messages, thread_end),
        previous_reply=_previous_reply(messages[:run_start]),
    )


def _requests(thread: list[Reading]) -> tuple[Intent | None, Slots, tuple[Request, ...]]:
    """The request being handled and the ones waiting after it. A message with several requests starts with
    its first; the messages after it answer that one's questions."""
    intent: Intent | None = None
    slots = Slots()
    deferred: tuple[Request, ...] = ()
    for reading in thread:
        if len(reading.requests) > 1:
            # Lookups first: they are answered at once, and an action after them is asked about on its own.
            ordered = sorted(reading.requests, key=lambda r: not r.read_only)
            intent, slots, deferred = ordered[0].intent, ordered[0].slots, tuple(ordered[1:])
            continue
        slots = slots.merged_with(reading.slots)
        intent = reading.intent or intent
    return intent, slots, deferred


def _refer_back(intent: Intent | None, slots: Slots, shown: list[str]) -> tuple[Intent | None, Slots]:
    """Fill the order from what the assistant showed last: by position ("the second one"), or the one order
    it showed when the customer points at it ("cancel it", "change that order's address"). Without such a
    word the customer is asked, so "change my default address" never lands on the order just shown."""
    if slots.ordinal is not None and abs(slots.ordinal) <= len(shown):
        index = slots.ordinal - 1 if slots.ordinal > 0 else slots.ordinal
        return intent or Intent.STATUS, replace(slots, order_ids=(shown[index],))
    acts_on_an_order = intent is not None and intent.value not in ("account", "question", "human")
    if acts_on_an_order and slots.refers_back and not slots.default_address and len(shown) == 1:
        return intent, replace(slots, order_ids=(shown[0],))
    return intent, slots


def _shown_orders(messages: list[Message]) -> list[str]:
    """The order ids in the assistant's latest message that names any, in the order it named them."""
    for message in reversed(messages):
        if message.role == "assistant" and (found := _ORDER_IDS.findall(_texts(message))):
            return list(dict.fromkeys(found))
    return []


def _asked(messages: list[Message], thread_end: int) -> tuple[str, ...]:
    questions: list[str] = []
    for index in range(thread_end - 1, -1, -1):
        message = messages[index]
        text = _texts(message).strip()
        if message.role == "assistant" and text:
            if not _still_open(messages, index, text):
                break
            questions.append(text)
    return tuple(reversed(questions))


def _still_open(messages: list[Message], index: int, text: str) -> bool:
    """Whether the assistant's words at `index` leave the request open: a question, or a confirmation card
    (its words follow the service's result saying the proposed write waits for the customer)."""
    return text.endswith("?") or (
        index > 0 and any(_awaits_customer(r.content) for r in messages[index - 1].tool_results)
    )


def _awaits_customer(content: str) -> bool:
    try:
        result = json.loads(content)
    except ValueError:
        return False
    return isinstance(result, dict) and result.get("status") == "awaiting_confirmation"


def _previous_reply(messages: list[Message]) -> str:
    for message in reversed(messages):
        if message.role == "assistant" and (text := _texts(message).strip()):
            return text
    return ""


def _proposal(messages: list[Message], notice: dict[str, Any] | None) -> tuple[int, dict[str, Any]] | None:
    """Where this model proposed the call a notice decides, and the arguments it proposed."""
    if notice is None:
        return None
    for index, message in enumerate(messages):
        for call in message.tool_uses:
            if call.id == notice.get("tool_use_id") and isinstance(call.input, dict):
                return index, call.input
    return None


def _customer_text_before(messages: list[Message], index: int) -> int:
    return _last_customer_text(messages[:index]) if index > 0 else 0


def _notice(text: str) -> dict[str, Any] | None:
    if not text.startswith(NOTICE_PREFIX) or "{" not in text:
        return None
    try:
        body = json.loads(text[text.index("{") :])
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _texts(message: Message) -> str:
    """What the message says, without the service's note about omitted history."""
    return "".join(
        b.text for b in message.content if isinstance(b, TextBlock) and not b.text.startswith(OMITTED_PREFIX)
    )


def _last_customer_text(messages: list[Message]) -> int:
    for index in range(len(messages) - 1, -1, -1):
        if messages[index].role == "user" and not messages[index].tool_results and _texts(messages[index]).strip():
            return index
    return 0


def _thread(messages: list[Message], end: int) -> list[Reading]:
    """The customer's messages up to `end` since the assistant's last final answer. A question that quotes a
    request left for later ('You also asked: "..." Shall I go on with that?') starts the thread with it."""
    readings: list[Reading] = []
    for index in range(min(end, len(messages) - 1), -1, -1):
        message = messages[index]
        text = _texts(message).strip()
        if message.role == "assistant" and text:
            if not _still_open(messages, index, text):
                break
            if quoted := _QUOTED_REQUEST.search(text):
                readings.append(_as_reading(read_requests(quoted.group(1))))
                break
        if message.role == "user" and text and not message.tool_results and not text.startswith(NOTICE_PREFIX):
            readings.append(read(text))
    readings.reverse()
    return readings


def _as_reading(requests: tuple[Request, ...]) -> Reading:
    first = requests[0] if requests else Request(None, Slots(), "")
    return Reading(intent=first.intent, slots=first.slots, requests=requests)


def _calls(messages: list[Message]) -> dict[str, ToolUseBlock]:
    return {block.id: block for message in messages for block in message.tool_uses}


def _outcomes(message: Message, calls: dict[str, ToolUseBlock]) -> list[ToolOutcome]:
    outcomes = []
    for result in message.tool_results:
        call = calls.get(result.tool_use_id)
        if call is None:
            continue
        try:
            content = json.loads(result.content)
        except ValueError:
            content = result.content
        outcomes.append(ToolOutcome(call.name, call.input, ok=not result.is_error, content=content))
    return outcomes


def _facts(run_messages: list[Message]) -> Facts:
    facts = Facts()
    calls = _calls(run_messages)
    for message in run_messages:
        for outcome in _outcomes(message, calls):
            facts.learn(outcome)
    return facts


def _last_outcomes(messages: list[Message]) -> list[ToolOutcome]:
    if not messages or not messages[-1].tool_results:
        return []
    return _outcomes(messages[-1], _calls(messages[-3:-1]))
