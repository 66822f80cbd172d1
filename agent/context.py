"""Context-window discipline: what of a long conversation the model is shown.

The system prompt and the tool list are never cut (they are the cached prefix). Of the history, the newest
turns are kept whole until the budget is spent; older turns are dropped, and a one-line note of what they were
about (the order ids they mentioned) takes their place. A tool result longer than the limit is cut, with a
marker saying how much was left out, when it enters the conversation.
"""

from __future__ import annotations

import json
import re

from agent.models.base import Message, TextBlock

CHARS_PER_TOKEN = 4
OMITTED_PREFIX = "[Earlier conversation omitted"
_ORDER_ID = re.compile(r"#W\d{7}")


def estimate_tokens(message: Message) -> int:
    return len(json.dumps(message.to_json(), ensure_ascii=False)) // CHARS_PER_TOKEN + 1


def clip_result(content: str, max_chars: int) -> str:
    if len(content) <= max_chars:
        return content
    return f"{content[:max_chars]}… [truncated: {len(content) - max_chars} more characters not shown]"


def _turns(history: list[Message]) -> list[list[Message]]:
    """Split at each customer (or service) text message: a turn is that message and everything answering it."""
    turns: list[list[Message]] = []
    for message in history:
        starts_turn = message.role == "user" and not message.tool_results
        if starts_turn or not turns:
            turns.append([message])
        else:
            turns[-1].append(message)
    return turns


def fit_history(history: list[Message], budget_tokens: int) -> list[Message]:
    """The newest whole turns of `history` that fit in `budget_tokens`, with a note for what was dropped."""
    turns = _turns(history)
    kept: list[list[Message]] = []
    used = 0
    for turn in reversed(turns):
        cost = sum(estimate_tokens(m) for m in turn)
        if kept and used + cost > budget_tokens:
            break
        kept.append(turn)
        used += cost
    kept.reverse()
    dropped = turns[: len(turns) - len(kept)]
    if not dropped:
        return history
    mentioned = sorted({oid for turn in dropped for m in turn for oid in _ORDER_ID.findall(json.dumps(m.to_json()))})
    about = f"; it mentioned orders {', '.join(mentioned)}" if mentioned else ""
    note = TextBlock(f"{OMITTED_PREFIX}: {len(dropped)} earlier turns are not shown{about}.]")
    first = kept[0][0]
    # The note joins the first kept customer message, so roles still alternate as the Messages API requires.
    kept[0][0] = Message(role=first.role, content=(note, *first.content))
    return [m for turn in kept for m in turn]
