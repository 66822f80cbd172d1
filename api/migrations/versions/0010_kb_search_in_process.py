"""The help centre's keyword index leaves the database: search ranks passages by BM25 in process (see
tools/knowledge/keyword.py), the same on SQLite and PostgreSQL, so the per-database index tables go.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("DROP TABLE IF EXISTS kb_search_index")


def downgrade() -> None:
    # The index as 0005 made it, empty: the next `support kb import` of a changed article fills it again only
    # with the code of that time, so a downgrade should be followed by a full re-import.
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
