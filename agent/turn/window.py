"""Context-window discipline: what of a long conversation the model is shown.

The system prompt and the tool list are never cut (they are the cached prefix). Of the history, old turns are
dropped in steps, not one per turn: once the history passes its budget, the oldest turns go until it is half the
budget, and the cut then stays where it is until the history passes the budget again. A one-line note of what the
dropped turns were about (the order ids they mentioned) takes their place; it changes only when the cut moves. So
between two moves every request starts with the same bytes as the one before, and the cache breakpoint a call
writes is read by the next (`agent.models.claude.adapter.with_history_breakpoints`).

When the cut moves, the turns kept from before the move lose their thinking blocks: a thinking block is bound to
everything before it (build-with-claude/preserved-thinking/prefix-checks: "Trimming, folding or summarizing older
turns ...: remove thinking in the kept turns"), and those turns' prefix just changed. Turns answered after the move
keep theirs, and since the cut is worked out from the history alone, every later run strips the same ones.

A tool result longer than the limit is cut, with a marker saying how much was left out, when it enters the
conversation.
"""

from __future__ import annotations

import json
import re

from agent.models.base import THINKING, Message, TextBlock, has_words, without_blank_text

CHARS_PER_TOKEN = 4
OMITTED_PREFIX = "[Earlier conversation omitted"
KEEP_AFTER_CUT = 0.5
"""The share of the budget the kept history fills just after the cut moves: the room it then has to grow before
the next move."""
_ORDER_ID = re.compile(r"#W\d{7}")


def estimate_tokens(message: Message) -> int:
    return len(json.dumps(message.to_json(), ensure_ascii=False)) // CHARS_PER_TOKEN + 1


def clip_result(content: str, max_chars: int) -> str:
    if len(content) <= max_chars:
        return content
    return f"{content[:max_chars]}… [truncated: {len(content) - max_chars} more characters not shown]"


def repaired(history: list[Message]) -> list[Message]:
    """The stored history as the Messages API accepts it: no text block without words, no empty message.
    Conversations stored before the service kept to this (a model's "\\n\\n" before a tool call, a paused turn
    stored empty) are answered again instead of being refused for good. A sound history comes back as it is."""
    if all(message.content and all(has_words(b) for b in message.content) for message in history):
        return history
    kept = [Message(m.role, without_blank_text(m.content)) for m in history]
    return [m for m in kept if m.content]


def turns_of(history: list[Message]) -> list[list[Message]]:
    """Split at each customer (or service) text message: a turn is that message and everything answering it."""
    turns: list[list[Message]] = []
    for message in history:
        starts_turn = message.role == "user" and not message.tool_results
        if starts_turn or not turns:
            turns.append([message])
        else:
            turns[-1].append(message)
    return turns


def stable_cut(costs: list[int], budget_tokens: int) -> tuple[int, int]:
    """How many of the oldest turns are dropped, and the index of the turn whose arrival last moved the cut (-1:
    never). Worked out turn by turn as the conversation grew, so it depends on the history alone and only moves
    when the kept part passes the budget."""
    cut, kept, moved_at = 0, 0, -1
    for index, cost in enumerate(costs):
        kept += cost
        if kept > budget_tokens:
            while cut < index and kept > budget_tokens * KEEP_AFTER_CUT:
                kept -= costs[cut]
                cut += 1
            moved_at = index
    return cut, moved_at


def fit_history(history: list[Message], budget_tokens: int) -> list[Message]:
    """The history cut to fit `budget_tokens` in steps, with a note for what was dropped; as it is when it fits."""
    turns = turns_of(history)
    cut, moved_at = stable_cut([sum(estimate_tokens(m) for m in turn) for turn in turns], budget_tokens)
    if cut == 0:
        return history
    return _without(turns, cut, moved_at)


def shorten(history: list[Message], share: float) -> list[Message] | None:
    """A history of about `share` of this one's size, for a prompt the model refused as too long; None when no
    turn can go (the last one is kept whole). All kept turns lose their thinking: the cut moved under them."""
    turns = turns_of(history)
    costs = [sum(estimate_tokens(m) for m in turn) for turn in turns]
    target, total, cut = sum(costs) * share, sum(costs), 0
    while cut < len(turns) - 1 and total > target:
        total -= costs[cut]
        cut += 1
    if cut == 0:
        return None
    return _without(turns, cut, len(turns) - 1)


def _without(turns: list[list[Message]], cut: int, moved_at: int) -> list[Message]:
    """Turns from `cut` on, those up to `moved_at` without their thinking, after a note naming what went."""
    dropped = turns[:cut]
    kept = [
        [_unthought(m) for m in turn] if cut + offset <= moved_at else turn for offset, turn in enumerate(turns[cut:])
    ]
    mentioned = sorted({oid for turn in dropped for m in turn for oid in _ORDER_ID.findall(json.dumps(m.to_json()))})
    about = f"; it mentioned orders {', '.join(mentioned)}" if mentioned else ""
    note = TextBlock(f"{OMITTED_PREFIX}: {len(dropped)} earlier turns are not shown{about}.]")
    first = kept[0][0]
    # The note joins the first kept customer message, so roles still alternate as the Messages API requires.
    kept[0][0] = Message(role=first.role, content=(note, *first.content))
    return [m for turn in kept for m in turn if m.content]


def _unthought(message: Message) -> Message:
    if not any(isinstance(block, THINKING) for block in message.content):
        return message
    return Message(message.role, tuple(b for b in message.content if not isinstance(b, THINKING)))
