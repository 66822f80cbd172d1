"""Which service processes are alive: a lease per process, renewed by a heartbeat.

Each process registers a worker row and renews its `heartbeat_at` every few seconds; the runs it answers carry
its worker id. A run whose worker has stopped renewing (the process was killed, the machine lost) is known to
be orphaned once the lease has run out, and one whose worker lived on this same host under a process id that
no longer exists is known to be orphaned at once: a service restarted after `kill -9` recovers its runs as it
starts, instead of waiting out a timeout.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from agent.conversations.tables import Worker
from basics.clock import utcnow
from basics.database import Database
from basics.ids import new_id

log = logging.getLogger(__name__)


def process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError as error:
        return error.errno == errno.EPERM  # it exists, it is just not ours to signal
    return True


@dataclass(frozen=True, slots=True)
class WorkerSighting:
    hostname: str
    pid: int
    heartbeat_at: datetime


class WorkerLease:
    def __init__(self, database: Database, *, lease: timedelta = timedelta(seconds=10)) -> None:
        self.database = database
        self.lease = lease
        self.worker_id = new_id("wrk")
        self.hostname = socket.gethostname()[:255]
        self.pid = os.getpid()

    @property
    def heartbeat_every_s(self) -> float:
        return self.lease.total_seconds() / 5

    async def register(self) -> None:
        now = utcnow()
        async with self.database.session() as session:
            session.add(
                Worker(id=self.worker_id, hostname=self.hostname, pid=self.pid, started_at=now, heartbeat_at=now)
            )
            await session.commit()

    async def renew(self) -> None:
        """Renew the lease; if the row was removed (another process thought us gone), register again."""
        async with self.database.session() as session:
            renewed = await session.exec(
                update(Worker).where(col(Worker.id) == self.worker_id).values(heartbeat_at=utcnow())
            )
            await session.commit()
        if renewed.rowcount != 1:
            await self.register()

    async def resign(self) -> None:
        """Remove this worker's row on a clean shutdown. Best effort: a database that is gone must not turn a
        shutdown into a failure, and a lease left behind simply lapses."""
        try:
            async with self.database.session() as session:
                await session.exec(delete(Worker).where(col(Worker.id) == self.worker_id))
                await session.commit()
        except SQLAlchemyError:
            log.warning("could not remove worker %s on shutdown; its lease will lapse", self.worker_id)

    def gone(self, sighting: WorkerSighting | None, now: datetime) -> bool:
        """Whether a worker, as last seen, has stopped: no row, a lapsed lease, or a dead process on this host."""
        if sighting is None:
            return True
        if sighting.heartbeat_at < now - self.lease:
            return True
        return sighting.hostname == self.hostname and sighting.pid != self.pid and not process_exists(sighting.pid)

    async def is_gone(self, session: AsyncSession, worker_id: str) -> bool:
        if worker_id == self.worker_id:
            return False
        row = (
            await session.exec(
                select(Worker.hostname, Worker.pid, Worker.heartbeat_at).where(col(Worker.id) == worker_id)
            )
        ).first()
        return self.gone(WorkerSighting(*row) if row else None, utcnow())

    async def forget_gone(self, worker_ids: set[str]) -> None:
        """Remove the rows of workers found gone, once their runs are recovered."""
        if not worker_ids:
            return
        async with self.database.session() as session:
            await session.exec(delete(Worker).where(col(Worker.id).in_(worker_ids)))
            await session.commit()
