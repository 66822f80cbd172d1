"""Limits that hold under bursts and runs that survive a crash: lock rows per scope, daily spend counters,
live workers, and the columns that tie runs, idempotency keys and approvals to them.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import tools.store.tables

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "limit_locks",
        sa.Column("scope", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("touched_at", tools.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("scope"),
    )
    op.create_table(
        "spend_days",
        sa.Column("scope", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("used_micro_usd", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("scope", "day"),
    )
    op.create_table(
        "workers",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("hostname", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", tools.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", tools.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("worker_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True))
        batch.add_column(sa.Column("reserved_micro_usd", sa.BigInteger(), nullable=False, server_default="0"))
    op.create_index("ix_runs_status_worker", "runs", ["status", "worker_id"])
    with op.batch_alter_table("idempotent_requests") as batch:
        batch.add_column(sa.Column("run_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True))
        batch.create_index("ix_idempotent_requests_run_id", ["run_id"])
    with op.batch_alter_table("approvals") as batch:
        batch.add_column(sa.Column("idempotency_key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("approvals") as batch:
        batch.drop_column("idempotency_key")
    with op.batch_alter_table("idempotent_requests") as batch:
        batch.drop_index("ix_idempotent_requests_run_id")
        batch.drop_column("run_id")
    op.drop_index("ix_runs_status_worker", table_name="runs")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("reserved_micro_usd")
        batch.drop_column("worker_id")
    op.drop_table("workers")
    op.drop_table("spend_days")
    op.drop_table("limit_locks")
