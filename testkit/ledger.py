"""Writing past activity straight into the ledger, so limits over time can be tested at their edges."""

from __future__ import annotations

import uuid
from datetime import datetime

from basics.database import Database
from tools.store.tables import LedgerEntry


async def add_history(
    database: Database,
    customer_id: str,
    at: datetime,
    refund_cents: int = 0,
    *,
    tool: str | None = None,
    order_id: str | None = None,
) -> None:
    """A past write. A refund is a return's unless `tool` says otherwise: returns fall under the default money
    tier, so a goodwill refund decided afterwards meets only the limits that count every refund (the 30-day
    and the store's daily ones), not its own tier's memory."""
    async with database.session() as session:
        session.add(
            LedgerEntry(
                idempotency_key=f"history:{uuid.uuid4()}",
                tool=tool or ("return_delivered_order_items" if refund_cents else "modify_customer_address"),
                customer_id=customer_id,
                order_id=order_id,
                arguments={},
                refund_cents=refund_cents,
                amount_cents=refund_cents,
                result={},
                created_at=at,
            )
        )
        await session.commit()
