"""Indexes that keep reads flat as the history grows: a customer's conversations newest first as an index range
(`ix_conversations_customer_created`, which replaces the index on `customer_id` alone); the held call of a run
and the approval a run resumed (`approvals.run_id`, `approvals.resumed_run_id`), which were read from the whole
`approvals` table; and the expiry sweep's pending calls (`ix_approvals_status_expires`, which replaces the index
on `expires_at` alone: SQLite read every approval that ever expired through it).

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.create_index("ix_conversations_customer_created", ["customer_id", "created_at", "id"], unique=False)
        batch_op.drop_index(batch_op.f("ix_conversations_customer_id"))
    with op.batch_alter_table("approvals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_approvals_run_id"), ["run_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_approvals_resumed_run_id"), ["resumed_run_id"], unique=False)
        batch_op.create_index("ix_approvals_status_expires", ["status", "expires_at"], unique=False)
        batch_op.drop_index(batch_op.f("ix_approvals_expires_at"))


def downgrade() -> None:
    with op.batch_alter_table("approvals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_approvals_expires_at"), ["expires_at"], unique=False)
        batch_op.drop_index("ix_approvals_status_expires")
        batch_op.drop_index(batch_op.f("ix_approvals_resumed_run_id"))
        batch_op.drop_index(batch_op.f("ix_approvals_run_id"))
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_conversations_customer_id"), ["customer_id"], unique=False)
        batch_op.drop_index("ix_conversations_customer_created")
