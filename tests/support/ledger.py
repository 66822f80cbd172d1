"""Writing past activity straight into the ledger, so limits over time can be tested at their edges."""

from __future__ import annotations

import uuid
from datetime import datetime

from tools.store.database import Database
from tools.store.tables import LedgerEntry


async def add_history(database: Database, customer_id: str, at: datetime, refund_cents: int = 0) -> None:
    async with database.session() as session:
        session.add(
            LedgerEntry(
                idempotency_key=f"history:{uuid.uuid4()}",
                tool="issue_refund" if refund_cents else "modify_customer_address",
                customer_id=customer_id,
                arguments={},
                refund_cents=refund_cents,
                amount_cents=refund_cents,
                result={},
                created_at=at,
            )
        )
        await session.commit()
