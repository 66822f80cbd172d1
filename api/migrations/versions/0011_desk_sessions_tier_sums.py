"""Desk sessions kept server-side (`desk_sessions`), so a sign-out ends a session on every replica; and the sum
a money tier compared, on each policy decision (`policy_decisions.tier_sum_cents`).

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import tools.store.tables

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "desk_sessions",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("staff_id", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("created_at", tools.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", tools.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", tools.store.tables.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("desk_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_desk_sessions_expires_at"), ["expires_at"], unique=False)
    with op.batch_alter_table("policy_decisions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("tier_sum_cents", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("policy_decisions", schema=None) as batch_op:
        batch_op.drop_column("tier_sum_cents")
    with op.batch_alter_table("desk_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_desk_sessions_expires_at"))
    op.drop_table("desk_sessions")
