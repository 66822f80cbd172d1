"""Closing a hand-off, and giving the conversation back to the assistant.

A team member who closes a hand-off with `bot` hands the conversation back: the customer is told the assistant
is back (`agent.held.handoffs.HandoffStore.close`, in the closing transaction), and what they wrote to the team that
nobody answered is answered by a run of its own, stored in that same transaction, so a crash right after the
close leaves a run that recovery answers rather than messages nobody will. The run answers as a task the service
owns: the team member's close does not wait for the model.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from agent.conversations.store import RunStore
from agent.conversations.tables import Handoff
from agent.held.handoffs import HandoffStore, Outcome
from agent.turn.loop import AgentLoop
from basics.principal import Principal

Spawn = Callable[[Coroutine[Any, Any, Any]], object]


class HandoffClosing:
    def __init__(self, *, handoffs: HandoffStore, runs: RunStore, loop: AgentLoop, spawn: Spawn) -> None:
        self.handoffs = handoffs
        self.runs = runs
        self.loop = loop
        self.spawn = spawn
        """Starts work the service owns (`api.services.Services.spawn`): a request going away cannot cancel it."""

    async def close(self, handoff_id: str, staff: Principal, outcome: Outcome) -> Handoff:
        handoff = await self.handoffs.get(handoff_id)
        run = None
        if outcome == "bot" and handoff.run_id is not None:
            run = self.runs.resumed_run(handoff.conversation_id, handoff.customer_id, resumed_from=handoff.run_id)
        closed = await self.handoffs.close(handoff_id, staff, outcome, answer_in=run)
        if run is not None and closed.unanswered is not None:
            self.spawn(self.loop.answer(run, closed.unanswered))
        return closed.handoff
