"""Finishing runs whose process died, so the customer still gets an answer.

A run left `running` by a process that is gone (see `agent.processes.leases`) is recovered by whichever live process
notices first; one conditional update decides which, so a run is recovered once. What recovery does depends on
what the dead run had done:

- it was telling the customer an approver's decision: a new run tells it (the action already ran, exactly once,
  and its result is on the approval);
- it had executed no write: a new run answers the customer's message again, from the stored message;
- it had executed writes: answering again could repeat a write the model no longer remembers, so the run ends
  with a reply that says what was done and asks the customer to continue.

Either way the conversation is released, and an `Idempotency-Key` bound to the dead run then replays the
answer of the run that finished the work (`api.idempotency`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy import update
from sqlmodel import col, select

from agent.conversations.store import INTERRUPTED, KnownAtStart, RunStore, RunTotals
from agent.conversations.tables import ChatMessage, Run, Worker
from agent.errors import ConversationBusy
from agent.held.decisions import ApprovalDecisions
from agent.held.status import RunStatus
from agent.processes.leases import WorkerLease, WorkerSighting
from agent.quality.flags import FlagKind
from agent.quality.run_flags import Flag
from agent.turn import replies
from agent.turn.loop import AgentLoop
from basics.clock import utcnow
from basics.database import Database
from tools.store.tables import LedgerEntry

log = logging.getLogger(__name__)

MAX_CHAIN = 5
"""How many times in a row one message is re-answered after crashes before recovery gives up on it."""


class RunRecovery:
    def __init__(
        self,
        *,
        database: Database,
        runs: RunStore,
        loop: AgentLoop,
        desk: ApprovalDecisions,
        lease: WorkerLease,
        wait_s: float = 0.0,
    ) -> None:
        self.database = database
        self.runs = runs
        self.loop = loop
        self.desk = desk
        self.lease = lease
        self.wait_s = wait_s
        """How long a recovering run waits for its conversation while another run answers in it."""

    async def sweep(self) -> int:
        """Recover every run whose process is gone. Returns how many this process recovered."""
        now = utcnow()
        async with self.database.session(readonly=True) as session:
            rows = (
                await session.exec(
                    select(Run, Worker.hostname, Worker.pid, Worker.heartbeat_at)
                    .join(Worker, col(Worker.id) == col(Run.worker_id), isouter=True)
                    .where(col(Run.status) == RunStatus.RUNNING)
                )
            ).all()
        # A run is orphaned when its process is gone, or when it has been running far longer than any run may
        # (its process lives on but lost track of it: no run outlives its wall-clock budget by this much).
        orphans = [
            run
            for run, hostname, pid, heartbeat in rows
            if run.started_at < now - self.runs.stale_after
            or (
                run.worker_id not in (None, self.lease.worker_id)
                and self.lease.gone(WorkerSighting(hostname, pid, heartbeat) if hostname else None, now)
            )
        ]
        recovered = 0
        for run in orphans:
            recovered += await self.recover(run)
        await self.lease.forget_gone(
            {str(r.worker_id) for r in orphans if r.worker_id not in (None, self.lease.worker_id)}
        )
        return recovered

    async def recover(self, dead: Run) -> bool:
        now = utcnow()
        async with self.database.session() as session:
            won = await session.exec(
                update(Run)
                .where(col(Run.id) == dead.id, col(Run.status) == RunStatus.RUNNING)
                .values(status=RunStatus.FAILED, error=INTERRUPTED, finished_at=now, reply=None)
            )
            await session.commit()
        if won.rowcount != 1:
            return False
        log.warning("recovering run %s of conversation %s: its process stopped", dead.id, dead.conversation_id)
        approval = await self.desk.approvals.resumed_by(dead.id)
        if approval is not None:
            run = self.runs.resumed_run(dead.conversation_id, dead.customer_id, resumed_from=dead.id)
            try:
                resumed = await self.runs.start_resumed(run, held_id=approval.id, replacing=dead.id, wait_s=self.wait_s)
            except ConversationBusy:
                log.warning("run %s: its conversation stays busy; the decision is told later", dead.id)
                return True
            if resumed is not None:
                await self.desk.answer_decision(approval, resumed)
            return True
        content, depth = await self._original_message(dead)
        done = await self._writes_of(dead.id)
        if content is not None and not done and depth < MAX_CHAIN:
            follow_up = self.runs.resumed_run(dead.conversation_id, dead.customer_id, resumed_from=dead.id)
            try:
                started = await self.runs.start_resumed(follow_up, replacing=dead.id, wait_s=self.wait_s)
            except ConversationBusy:  # the customer moved on: a newer run answers in the conversation
                log.warning("run %s: its conversation is answering a newer message; not answered again", dead.id)
                return True
            if started is not None:
                await self.loop.answer(started.run, content, known=KnownAtStart(started.spent_budget))
            return True
        await self._close_politely(dead, replies.interrupted(done))
        return True

    async def _original_message(self, run: Run) -> tuple[str | None, int]:
        """The customer message a chain of re-answering runs started from, and how long the chain is."""
        current: Run | None = run
        for depth in range(MAX_CHAIN + 1):
            if current is None:
                break
            async with self.database.session(readonly=True) as session:
                content = (
                    await session.exec(
                        select(ChatMessage.content).where(
                            col(ChatMessage.run_id) == current.id, col(ChatMessage.role) == "customer"
                        )
                    )
                ).first()
            if content is not None:
                return content, depth
            current = await self.runs.get_run(current.resumed_from) if current.resumed_from else None
        return None, MAX_CHAIN

    async def _writes_of(self, run_id: str) -> Sequence[str]:
        async with self.database.session(readonly=True) as session:
            rows = await session.exec(
                select(LedgerEntry.tool).where(col(LedgerEntry.idempotency_key).startswith(f"run:{run_id}:"))
            )
            return list(rows.all())

    async def _close_politely(self, dead: Run, reply: str) -> None:
        await self.runs.finish_turn(
            dead,
            status=RunStatus.FAILED,
            reply=reply,
            transcript=[],
            totals=RunTotals(0, 0, 0, 0, 0, 0),
            model_provider=dead.model_provider,
            model_name=dead.model_name,
            error=INTERRUPTED,
            flags=[Flag.of(FlagKind.FAILED, INTERRUPTED)],
        )
