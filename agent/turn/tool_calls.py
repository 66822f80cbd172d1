"""Taking in the tool calls of a model answer: made well-formed, bounded, and keyed by the service.

Whatever a model sends (a null or numeric id, a repeated id, a name that is a list, an input that is not an
object or holds NaN), the answer is rewritten into one the Messages API accepts when the history is sent back,
and the odd call is refused by the gate with an error the model can read. Nothing the model chooses decides
whether a write runs twice: each call's idempotency key is derived from the run, the model call, the call's
position and a hash of the tool and its arguments.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from agent.errors import ModelProtocolError
from agent.models.base import ModelResponse, ToolResultBlock, ToolUseBlock
from basics.ids import new_id

_WELL_FORMED = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_INPUT_DEPTH = 32
"""How deeply a tool input may nest. No tool's arguments go past two levels (an object holding a list of ids);
far past this, the copies, hashes and encodings a call goes through (all recursive) would hit Python's recursion
limit."""
MALFORMED_NAME = "malformed_tool_name"
MALFORMED_INPUT = "_malformed_input"
"""The single key of an input that was not a JSON object; no tool has it, so validation refuses the call."""


def nesting_depth(value: Any, limit: int) -> int:
    """How deeply `value` nests lists and objects, counted without recursion and no further than `limit` + 1."""
    deepest = 0
    level: list[Any] = [value]
    while level and deepest <= limit:
        containers = [v for v in level if isinstance(v, dict | list | tuple)]
        if not containers:
            break
        deepest += 1
        level = [inner for c in containers for inner in (c.values() if isinstance(c, dict) else c)]
    return deepest


def unreadable_calls(response: ModelResponse) -> ModelProtocolError | None:
    """The model's protocol error if a tool input of its answer nests past `MAX_INPUT_DEPTH` (the run then ends as
    when an answer cannot be read), found before anything walks the input recursively."""
    for call in response.tool_uses:
        if nesting_depth(call.input, MAX_INPUT_DEPTH) > MAX_INPUT_DEPTH:
            return ModelProtocolError(f"a tool input of the model's answer nests deeper than {MAX_INPUT_DEPTH} levels")
    return None


def json_safe(value: Any) -> Any:
    """A copy that strict JSON can encode: NaN and infinities become their names as text."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return repr(value)


def call_key(run_id: str, step: int, index: int, name: str, arguments: Any) -> str:
    """The idempotency key of one proposed call: the same call at the same place in the same run, and only it,
    maps to the same key."""
    digest = hashlib.sha256(
        json.dumps([name, arguments], sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    ).hexdigest()[:24]
    return f"run:{run_id}:step:{step}:call:{index}:{digest}"


@dataclass(frozen=True, slots=True)
class CallBounds:
    per_answer: int = 8
    per_run: int = 24


@dataclass(slots=True)
class Intake:
    """The answer's calls after intake: the blocks as they go into the transcript, the calls to run (with their
    keys), and the results of calls refused before the gate (over a bound)."""

    blocks: list[ToolUseBlock] = field(default_factory=list)
    to_run: list[ToolUseBlock] = field(default_factory=list)
    keys: dict[str, str] = field(default_factory=dict)
    refused: dict[str, ToolResultBlock] = field(default_factory=dict)


def take_in(
    calls: list[ToolUseBlock], *, run_id: str, step: int, seen_ids: set[str], ran_so_far: int, bounds: CallBounds
) -> Intake:
    intake = Intake()
    for index, call in enumerate(calls):
        block = well_formed(call, seen_ids)
        seen_ids.add(block.id)
        intake.blocks.append(block)
        over = index >= bounds.per_answer or ran_so_far + len(intake.to_run) >= bounds.per_run
        if over:
            limit = (
                f"at most {bounds.per_answer} tool calls per answer"
                if index >= bounds.per_answer
                else f"at most {bounds.per_run} tool calls per reply"
            )
            body = {"error": {"code": "too_many_tool_calls", "message": f"not run: {limit}; ask for fewer at once"}}
            intake.refused[block.id] = ToolResultBlock(block.id, json.dumps(body), is_error=True)
            continue
        intake.to_run.append(block)
        intake.keys[block.id] = call_key(run_id, step, index, block.name, block.input)
    return intake


def well_formed(call: ToolUseBlock, seen_ids: set[str]) -> ToolUseBlock:
    raw_id, raw_name, raw_input = call.id, call.name, call.input
    block_id = raw_id if isinstance(raw_id, str) and _WELL_FORMED.match(raw_id) and raw_id not in seen_ids else None
    name = raw_name if isinstance(raw_name, str) and _WELL_FORMED.match(raw_name) else MALFORMED_NAME
    if isinstance(raw_input, dict):
        arguments = json_safe(raw_input)
    else:
        arguments = {MALFORMED_INPUT: str(json_safe(raw_input))[:500]}
    return ToolUseBlock(id=block_id or new_id("toolu_svc"), name=name, input=arguments)
