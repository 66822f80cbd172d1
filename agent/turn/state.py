"""A run's working state: what the model has seen, and the tool calls of its last answer still in hand.

It is plain data with a JSON form, so a run paused for approval can be stored and resumed by any process.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from agent.held.status import RunStatus
from agent.models.base import Message, ToolResultBlock, ToolUseBlock, block_from_json


@dataclass(slots=True)
class TurnState:
    messages: list[Message]
    """The whole conversation as the model sees it: earlier runs, then this one."""
    run_start: int
    """Index in `messages` where this run's own messages begin."""
    pending_results: list[ToolResultBlock] = field(default_factory=list)
    """Results of the last answer's tool calls gathered so far; sent together, in call order."""
    queued_calls: list[ToolUseBlock] = field(default_factory=list)
    """Tool calls of the last answer not yet processed."""
    call_keys: dict[str, str] = field(default_factory=dict)
    """The idempotency key the service derived for each queued call to run, by call id."""
    refused_calls: dict[str, ToolResultBlock] = field(default_factory=dict)
    """Results of queued calls refused before the gate (over a bound), by call id."""
    seen_call_ids: set[str] = field(default_factory=set)
    """Tool call ids used so far in the conversation; a repeated one is replaced, so every result pairs with
    exactly one call (the Messages API refuses a history with two tool_use blocks of one id)."""
    calls_run: int = 0
    """Tool calls of this run sent to the gate, for the per-run bound."""
    pauses: int = 0
    """Paused turns (`pause_turn`) continued in this run."""
    nudged: bool = False
    """Whether the model, having answered tool results with nothing, was asked once to answer."""

    def replace_history(self, history: list[Message]) -> None:
        """Put a shorter history in front of this run's own messages."""
        self.messages = [*history, *self.run_messages()]
        self.run_start = len(history)

    def forget_turn(self, notice: str) -> None:
        """Replace this run's messages with one service notice: the turn is not to be sent to the model again."""
        self.messages = [*self.messages[: self.run_start], Message.user_text(notice)]
        self.pending_results, self.queued_calls = [], []

    def run_messages(self) -> list[Message]:
        return self.messages[self.run_start :]

    def flush_results(self) -> None:
        """Answer the last tool calls with one user message holding every result, as the API expects."""
        if self.pending_results:
            self.messages.append(Message(role="user", content=tuple(self.pending_results)))
            self.pending_results = []

    def answer_open_calls(self, why: str) -> None:
        """Give every tool call of the last answer that has no result an error result, so the history stays
        valid for the next model call whatever stopped this run half-way."""
        answered = {r.tool_use_id for r in self.pending_results}
        last = self.messages[-1] if self.messages and self.messages[-1].role == "assistant" else None
        for call in last.tool_uses if last else []:
            if call.id not in answered:
                body = json.dumps({"error": {"code": "not_run", "message": why}})
                self.pending_results.append(ToolResultBlock(call.id, body, is_error=True))
        self.queued_calls = []
        self.flush_results()

    def to_json(self) -> dict[str, Any]:
        return {
            "messages": [m.to_json() for m in self.messages],
            "run_start": self.run_start,
            "pending_results": [r.to_json() for r in self.pending_results],
            "queued_calls": [c.to_json() for c in self.queued_calls],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TurnState:
        results = [block_from_json(b) for b in data.get("pending_results", [])]
        calls = [block_from_json(b) for b in data.get("queued_calls", [])]
        return cls(
            messages=[Message.from_json(m) for m in data["messages"]],
            run_start=int(data["run_start"]),
            pending_results=[r for r in results if isinstance(r, ToolResultBlock)],
            queued_calls=[c for c in calls if isinstance(c, ToolUseBlock)],
        )

    def close_queue(self, why: str) -> None:
        """Answer every call still queued, so no tool call in the transcript is left without a result."""
        self.refused_calls = {}
        self.call_keys = {}
        for call in self.queued_calls:
            self.pending_results.append(
                ToolResultBlock(call.id, json.dumps({"error": {"code": "not_run", "message": why}}), is_error=True)
            )
        self.queued_calls = []


def awaiting_result(
    call_id: str, held_id: str, message: str, *, status: str = RunStatus.AWAITING_APPROVAL
) -> ToolResultBlock:
    """The tool result of a call that waits for a decision (not an error: nothing went wrong)."""
    key = "confirmation_id" if status == RunStatus.AWAITING_CONFIRMATION else "approval_id"
    body = {"status": status, key: held_id, "message": message}
    return ToolResultBlock(call_id, json.dumps(body))
