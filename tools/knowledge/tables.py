"""The help centre's tables: articles, their passages, and the knowledge base's current version.

The keyword index is not a table: it is built in memory from `kb_passages` for each knowledge-base version
(see `keyword`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from tools.store.tables import json_column, utc_column


class KbArticle(SQLModel, table=True):
    __tablename__ = "kb_articles"

    id: str = Field(primary_key=True, max_length=80)
    title: str = Field(max_length=200)
    url: str = Field(max_length=500)
    updated: str = Field(max_length=20)
    """The article's own `updated` date from its front matter, as written (YYYY-MM-DD)."""
    content_hash: str = Field(max_length=64)
    """SHA-256 of the file and the chunking version: an import skips articles whose hash has not changed."""
    imported_at: datetime = Field(sa_column=utc_column())


class KbPassage(SQLModel, table=True):
    """A part of an article under one heading, a few hundred tokens long, with a little overlap."""

    __tablename__ = "kb_passages"
    __table_args__ = (Index("ix_kb_passages_article", "article_id", "position"),)

    id: str = Field(primary_key=True, max_length=100)
    """`<article id>#<position>`: stable across imports of an unchanged article."""
    article_id: str = Field(foreign_key="kb_articles.id", max_length=80)
    position: int
    section: str = Field(max_length=200)
    text: str
    keywords: str = ""
    """The article's front-matter keywords (other words and languages customers use), indexed with the text."""
    embedding: list[float] | None = Field(default=None, sa_column=json_column(nullable=True))
    embedding_model: str | None = Field(default=None, max_length=200)


class KbState(SQLModel, table=True):
    """One row: the version of the whole knowledge base, a hash over every article's id and content hash."""

    __tablename__ = "kb_state"

    name: str = Field(primary_key=True, max_length=20)
    version: str = Field(max_length=64)
    articles: int = 0
    passages: int = 0
    updated_at: datetime = Field(sa_column=utc_column())
