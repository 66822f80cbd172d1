"""A run records the route it started on (and why), why it moved to the default route if it did, and the prompt
version it was answered with (`runs.route`, `route_reason`, `route_escalation`, `prompt_version`, `prompt_id`).

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (
    ("route", 16),
    ("route_reason", 40),
    ("route_escalation", 300),
    ("prompt_version", 32),
    ("prompt_id", 16),
)


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        for name, length in COLUMNS:
            batch.add_column(sa.Column(name, sqlmodel.sql.sqltypes.AutoString(length=length), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        for name, _ in reversed(COLUMNS):
            batch.drop_column(name)
