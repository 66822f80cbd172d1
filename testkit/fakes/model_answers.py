"""How the fake's model answers a request the rules let through: a scripted reply given the shape the model named
in the request would give it."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from testkit.fakes.messages_rules import Checked
from testkit.fakes.messages_wire import Block, RedactedThinking, Reply, Thinking
from testkit.fakes.thinking_seal import Seal


def as_the_model_answers(reply: Reply, body: dict[str, Any], checked: Checked, seal: Seal) -> Reply:
    """The reply as the model in the request gives it: a thinking block first when the request has thinking on
    (none when it is off), its text blanked where the model's display default is `omitted`, and every thinking
    block signed for the prefix it was produced after (`testkit.fakes.thinking_seal`)."""
    model = checked.model
    content: list[Block] = list(reply.content)
    thinks = (Thinking, RedactedThinking)
    if not checked.thinking:
        content = [b for b in content if not isinstance(b, thinks)]
    elif reply.thinking is not False and not (content and isinstance(content[0], thinks)):
        content.insert(0, Thinking())
    hasher = seal.hasher(body.get("system"), body.get("tools") or [])
    for turn in checked.turns:
        hasher.turn(turn.role)
        for block in turn.blocks:
            hasher.add(block)
    if checked.turns[-1].role != "assistant":
        hasher.turn("assistant")
    sealed: list[Block] = []
    for block in content:
        if isinstance(block, Thinking):
            text = "" if model.omits_thinking_text else block.thinking
            prefix = hasher.digest() if model.preserved_thinking else None
            block = replace(block, thinking=text, signature=seal.sign(model.id, text, prefix))
        elif isinstance(block, RedactedThinking):
            block = replace(block, data=seal.redacted(model.id))
        sealed.append(block)
        hasher.add(block.to_json())
    return replace(reply, content=tuple(sealed))
