"""The help centre: articles, passages, the knowledge-base version, its keyword index; passages on steps and
the knowledge-base version on runs.

The keyword index depends on the database: an FTS5 table on SQLite, a tsvector table with a GIN index on
PostgreSQL (see tools/knowledge/keyword.py).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

import tools.store.tables

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "kb_articles",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("url", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("updated", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("content_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("imported_at", tools.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "kb_passages",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("article_id", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("section", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("text", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("keywords", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("embedding", JSON, nullable=True),
        sa.Column("embedding_model", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.ForeignKeyConstraint(["article_id"], ["kb_articles.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_kb_passages_article", "kb_passages", ["article_id", "position"])
    op.create_table(
        "kb_state",
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("version", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("articles", sa.Integer(), nullable=False),
        sa.Column("passages", sa.Integer(), nullable=False),
        sa.Column("updated_at", tools.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("kb_version", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
    with op.batch_alter_table("steps") as batch:
        batch.add_column(sa.Column("passages", JSON, nullable=True))
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "CREATE VIRTUAL TABLE kb_search_index USING fts5("
            "passage_id UNINDEXED, title, section, keywords, body, "
            "tokenize = 'porter unicode61 remove_diacritics 2')"
        )
    else:
        op.execute(
            "CREATE TABLE kb_search_index ("
            "passage_id varchar(100) PRIMARY KEY REFERENCES kb_passages(id) ON DELETE CASCADE, "
            "article_id varchar(80) NOT NULL, document tsvector NOT NULL)"
        )
        op.execute("CREATE INDEX ix_kb_search_index_document ON kb_search_index USING gin (document)")
        op.execute("CREATE INDEX ix_kb_search_index_article ON kb_search_index (article_id)")


def downgrade() -> None:
    op.execute("DROP TABLE kb_search_index")
    with op.batch_alter_table("steps") as batch:
        batch.drop_column("passages")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("kb_version")
    op.drop_table("kb_state")
    op.drop_index("ix_kb_passages_article", table_name="kb_passages")
    op.drop_table("kb_passages")
    op.drop_table("kb_articles")
