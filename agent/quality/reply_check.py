"""A model's reply, checked before the customer reads it: what in it is not grounded in what the run saw, and
what the service does about it (`SUPPORT_GROUNDING_FLAGS`: `record` the flags, or `hold` the reply for a person).

The run's evidence is its conversation (what the customer wrote, earlier answers, every tool result, help-centre
passages among them) and the store instructions the model was shown (indexed once per prompt version). The current
run's own words are not evidence for themselves. A long conversation is indexed off the event loop.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from agent.held.handoffs import REPLY_HELD, HandoffNote
from agent.models.base import Message, TextBlock, ToolResultBlock, ToolUseBlock
from agent.quality.flags import FlagKind, FlagMode
from agent.quality.grounding import Evidence, Ungrounded, check, evidence_of
from agent.quality.run_flags import Flag
from agent.routing.prompt_versions import PromptVersion

log = logging.getLogger(__name__)
OFF_LOOP_CHARS = 16_000
"""Above this much text to index (about 5 ms of work: a few order lookups), the check runs in a worker thread, and
the event loop serves other turns meanwhile."""
SUMMARY_FACTS = 6

KIND_WORDS = {
    FlagKind.UNGROUNDED_ORDER: "order number",
    FlagKind.UNGROUNDED_AMOUNT: "amount",
    FlagKind.UNGROUNDED_TRACKING: "tracking number",
    FlagKind.UNGROUNDED_DATE: "date",
    FlagKind.UNGROUNDED_ITEM: "item",
    FlagKind.UNGROUNDED_PAYMENT: "payment method",
    FlagKind.UNGROUNDED_POLICY: "store rule",
}


@dataclass(slots=True)
class ReplyCheck:
    mode: FlagMode = FlagMode.RECORD
    products: frozenset[str] = frozenset()
    """The store's product names, lower-cased (`grounding.check`'s `items`)."""
    _instructions: dict[str, Evidence] = field(default_factory=dict)

    @property
    def holds(self) -> bool:
        return self.mode is FlagMode.HOLD

    async def ungrounded(
        self,
        reply: str,
        messages: Sequence[Message],
        run_start: int,
        results: Iterable[Any],
        prompt_id: str,
        instructions: Iterable[str],
    ) -> list[Ungrounded]:
        """The facts of `reply` that nothing seen supports. `messages` are the conversation as the model saw it,
        the run's own from `run_start`; `results` the run's tool results as records; `instructions` the system
        prompt and tool descriptions of the prompt version `prompt_id`."""
        known = self._instructions.get(prompt_id)
        if known is None:
            known = self._instructions[prompt_id] = evidence_of(instructions)
        texts = list(_seen_texts(messages, run_start))
        records = list(results)
        if sum(len(t) for t in texts) > OFF_LOOP_CHARS:
            return await asyncio.to_thread(self._check, reply, texts, records, known)
        return self._check(reply, texts, records, known)

    async def judge(
        self,
        reply: str,
        messages: Sequence[Message],
        run_start: int,
        results: Iterable[Any],
        prompt: PromptVersion,
        run_id: str,
    ) -> tuple[list[Flag], HandoffNote | None] | None:
        """A run's reply checked against what it saw: its ungrounded facts as flags and, with `hold`, the note of
        the hand-off that withholds it. None when the check itself broke (logged at ERROR; the caller counts it):
        the reply then goes as it is."""
        try:
            ungrounded = await self.ungrounded(
                reply,
                messages,
                run_start,
                results,
                prompt.id,
                # read only the first time this prompt version is checked (`ungrounded` keeps its evidence)
                itertools.chain((prompt.system,), (json.dumps(tool, ensure_ascii=False) for tool in prompt.tools)),
            )
        except Exception:
            log.exception("the grounding check of run %s failed; its reply goes unchecked", run_id)
            return None
        flags = [Flag.of(fact.kind, fact.stated) for fact in ungrounded]
        if not (ungrounded and self.holds):
            return flags, None
        # Withheld: the customer, the feed and the next turn's model only ever see the service's words.
        return flags, HandoffNote(REPLY_HELD, held_summary(reply, ungrounded))

    def _check(self, reply: str, texts: list[str], records: list[Any], known: Evidence) -> list[Ungrounded]:
        return check(reply, evidence_of(texts, records).merge(known), items=self.products)


def _seen_texts(messages: Sequence[Message], run_start: int) -> Iterable[str]:
    for position, message in enumerate(messages):
        own_words = message.role == "assistant" and position >= run_start
        for block in message.content:
            if isinstance(block, TextBlock) and not own_words:
                yield block.text
            elif isinstance(block, ToolResultBlock):
                yield block.content
            elif isinstance(block, ToolUseBlock) and message.role == "assistant" and position < run_start:
                yield json.dumps(block.input, ensure_ascii=False, default=str)


def held_summary(reply: str, ungrounded: Sequence[Ungrounded]) -> str:
    """What the desk reads on the hand-off of a held reply: which facts, and the reply itself for the check."""
    facts = "; ".join(f"{KIND_WORDS.get(u.kind, 'fact')} {u.stated}" for u in ungrounded[:SUMMARY_FACTS])
    more = f" and {len(ungrounded) - SUMMARY_FACTS} more" if len(ungrounded) > SUMMARY_FACTS else ""
    return (
        f"The assistant's answer was held for a check: it states {facts}{more}, which nothing in the conversation, "
        f"the order data or the help centre shows. The customer has not seen it. Held answer: \u201c{reply}\u201d"
    )
