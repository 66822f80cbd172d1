"""One event table for the conversation feed: `conversation_events` replaces `desk_events`, whose rows (the
hand-off events) move over in their original order, with the same `data` shape the feed sends for them.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

import tools.store.tables

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
HANDOFF_KINDS = ("handoff.queued", "handoff.claimed", "handoff.replied", "handoff.closed")

desk_events = sa.table(
    "desk_events",
    sa.column("id", sa.Integer()),
    sa.column("conversation_id", sa.String()),
    sa.column("handoff_id", sa.String()),
    sa.column("kind", sa.String()),
    sa.column("actor", sa.String()),
    sa.column("created_at", tools.store.tables.UTCDateTime(timezone=True)),
)
conversation_events = sa.table(
    "conversation_events",
    sa.column("conversation_id", sa.String()),
    sa.column("kind", sa.String()),
    sa.column("data", JSON),
    sa.column("run_id", sa.String()),
    sa.column("created_at", tools.store.tables.UTCDateTime(timezone=True)),
)


def upgrade() -> None:
    op.create_table(
        "conversation_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("data", JSON, nullable=False),
        sa.Column("run_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("created_at", tools.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversations.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("conversation_events", schema=None) as batch_op:
        batch_op.create_index("ix_conversation_events_conversation", ["conversation_id", "id"], unique=False)
    bind = op.get_bind()
    old = bind.execute(sa.select(desk_events).order_by(desk_events.c.id)).mappings().all()
    if old:
        bind.execute(conversation_events.insert(), [_moved(row) for row in old])
    with op.batch_alter_table("desk_events", schema=None) as batch_op:
        batch_op.drop_index("ix_desk_events_conversation")
    op.drop_table("desk_events")


def _moved(row: Any) -> dict[str, Any]:
    data = {"conversation_id": row["conversation_id"], "handoff_id": row["handoff_id"], "actor": row["actor"]}
    return {
        "conversation_id": row["conversation_id"],
        "kind": row["kind"],
        "data": data,
        "run_id": None,
        "created_at": row["created_at"],
    }


def downgrade() -> None:
    op.create_table(
        "desk_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("handoff_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("created_at", tools.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversations.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("desk_events", schema=None) as batch_op:
        batch_op.create_index("ix_desk_events_conversation", ["conversation_id", "id"], unique=False)
    bind = op.get_bind()
    feed = sa.table(
        "conversation_events",
        sa.column("id", sa.Integer()),
        sa.column("conversation_id", sa.String()),
        sa.column("kind", sa.String()),
        sa.column("data", JSON),
        sa.column("created_at", tools.store.tables.UTCDateTime(timezone=True)),
    )
    rows = bind.execute(sa.select(feed).where(feed.c.kind.in_(HANDOFF_KINDS)).order_by(feed.c.id)).mappings().all()
    kept = [
        {
            "conversation_id": r["conversation_id"],
            "handoff_id": r["data"].get("handoff_id", ""),
            "kind": r["kind"],
            "actor": r["data"].get("actor"),
            "created_at": r["created_at"],
        }
        for r in rows
    ]
    if kept:
        bind.execute(desk_events.insert(), kept)
    with op.batch_alter_table("conversation_events", schema=None) as batch_op:
        batch_op.drop_index("ix_conversation_events_conversation")
    op.drop_table("conversation_events")
