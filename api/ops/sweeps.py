"""The background sweep that expires approvals on time.

Reading an approval or the queue also expires what is due, but a held action nobody looks at must still expire
when its time is up, so that its conversation reaches the team's hand-off queue and the customer is told. Every
replica may sweep: expiring is one conditional update, so two sweepers never expire the same approval twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from agent import ApprovalDecisions

log = logging.getLogger(__name__)


class ExpirySweeper:
    def __init__(self, desk: ApprovalDecisions, *, interval_s: float) -> None:
        self.desk = desk
        self.interval_s = interval_s
        self.passes = 0
        self._sweeping = False
        self._done = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="approval-expiry-sweep")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            self._sweeping = True
            try:
                expired = await self.desk.expire_due()
                if expired:
                    log.info("expired %d approval(s) past their deadline", expired)
            except Exception:  # a failed pass (database restarting, say) must not end the sweeping
                log.exception("the approval expiry sweep failed; it runs again in %.0f s", self.interval_s)
            finally:
                self._sweeping = False
            async with self._done:
                self.passes += 1
                self._done.notify_all()
            await asyncio.sleep(self.interval_s)

    async def full_pass(self) -> None:
        """Wait until a whole pass has run after this call: for whoever needs what is due now to be expired."""
        async with self._done:
            target = self.passes + (2 if self._sweeping else 1)
            await self._done.wait_for(lambda: self.passes >= target)
