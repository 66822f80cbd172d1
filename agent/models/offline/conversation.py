"""The offline model's view of a conversation: the customer's current thread, and what this run has looked up.

The model keeps no memory between calls: everything it knows it reads from the messages it is sent, as any
model of the Messages API does. Two ideas make that work:

- a *thread* is the customer's messages since the assistant last gave a final answer. The offline model ends
  every question it asks with "?" and every final answer without one, so "yes" or "#W1234567" after a
  question continues the request it answers, and a new message after a final answer starts afresh;
- *facts* are the tool results of the current run only, so every answer rests on data read just now.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from agent.context import OMITTED_PREFIX
from agent.models.base import Message, TextBlock, ToolUseBlock
from agent.models.offline.reading import Intent, Reading, Slots, read
from agent.replies import NOTICE_PREFIX


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

    def looked_up(self, tool: str, key: str = "") -> bool:
        return (tool, key) in self.facts.looked_up


def read_conversation(messages: list[Message]) -> Conversation:
    run_start = _last_customer_text(messages)
    thread = _thread(messages, run_start)
    intent: Intent | None = None
    slots = Slots()
    for reading in thread:
        slots = slots.merged_with(reading.slots)
        intent = reading.intent or intent
    latest = thread[-1] if thread else Reading(intent=None)
    return Conversation(
        intent=intent,
        slots=slots,
        latest=latest,
        facts=_facts(messages[run_start:]),
        last_outcomes=_last_outcomes(messages),
        notice=_notice(_texts(messages[run_start]) if messages else ""),
    )


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


def _thread(messages: list[Message], run_start: int) -> list[Reading]:
    readings: list[Reading] = []
    for message in reversed(messages[: run_start + 1]):
        text = _texts(message).strip()
        if message.role == "assistant" and text and not text.endswith("?"):
            break
        if message.role == "user" and text and not message.tool_results:
            readings.append(read(text))
    readings.reverse()
    return readings


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
