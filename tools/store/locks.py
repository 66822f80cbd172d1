"""Row locks that make a count-then-act limit atomic across requests, processes and replicas.

A limit that counts what was done (writes this hour, refunds this month, messages this minute) and then acts on
the count races when requests arrive together: each sees the same count and all act. Holding the scope's lock
row from the count until the commit of the act makes the pair atomic. On PostgreSQL an upsert of the scope's row
takes its row lock for the rest of the transaction; on SQLite every writing transaction is already alone
(`BEGIN IMMEDIATE`, see `Database`), so there is nothing to take.

Scopes are taken in sorted order (`customer:...` before `store`), so two transactions never wait on each other
in a cycle.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.dialects import postgresql
from sqlmodel import Field, SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from basics.clock import utcnow
from basics.dialects import dialect_of
from tools.store.tables import utc_column

STORE_SCOPE = "store"


def customer_scope(customer_id: str) -> str:
    return f"customer:{customer_id}"


class LimitLock(SQLModel, table=True):
    """One row per scope whose limits must be checked and acted on atomically."""

    __tablename__ = "limit_locks"

    scope: str = Field(primary_key=True, max_length=120)
    touched_at: datetime = Field(sa_column=utc_column())


async def hold(session: AsyncSession, *scopes: str) -> None:
    """Lock each scope until `session`'s transaction ends. Call it before counting what the limit counts."""
    if not dialect_of(session.get_bind()).concurrent_writers:
        return
    now = utcnow()
    for scope in sorted(set(scopes)):
        statement = postgresql.insert(LimitLock).values(scope=scope, touched_at=now)
        await session.exec(statement.on_conflict_do_update(index_elements=["scope"], set_={"touched_at": now}))
