"""Importing a directory of articles: only what changed is rewritten, and the version moves only then.

An article whose file hash matches the stored one is left alone (its passages, index entries and embeddings
stay); a changed article's passages are replaced; an article whose file is gone is removed. All of it happens
in one transaction, so a search never sees half an import. Embeddings are computed afterwards, outside that
transaction, for passages that have none for the configured model: a slow or failing embeddings endpoint never
holds the database, and never loses an import.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import delete, insert, text, update
from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from basics.clock import utcnow
from basics.database import Database
from tools.data_files import DataFile
from tools.knowledge.articles import Article, read_directory
from tools.knowledge.chunking import CHUNKING, chunk
from tools.knowledge.embeddings import Embedder
from tools.knowledge.tables import KbArticle, KbPassage, KbState

HELP_CENTRE = DataFile("tools.knowledge", "help_centre", "fixtures/help_centre")
"""The store's own help centre: its articles and the labelled questions `support kb eval` measures search with."""
DEFAULT_DIRECTORY = HELP_CENTRE.path()
STATE_KEY = "help_centre"
_IMPORT_LOCK_KEY = 0x4B_B1_4D
"""PostgreSQL advisory lock: two processes importing at once take turns (SQLite serialises writers itself)."""


@dataclass(slots=True)
class ImportReport:
    version: str
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    passages_written: int = 0
    embedded: int = 0

    @property
    def touched(self) -> bool:
        return bool(self.added or self.changed or self.removed)


def fingerprint(article: Article) -> str:
    """The file's hash together with how it is cut: a change to the chunking re-imports every article."""
    return hashlib.sha256(f"{article.content_hash}:{CHUNKING}".encode()).hexdigest()


def knowledge_version(articles: list[Article]) -> str:
    digest = hashlib.sha256()
    for article in sorted(articles, key=lambda a: a.id):
        digest.update(f"{article.id}\0{fingerprint(article)}\n".encode())
    return digest.hexdigest()[:16]


async def import_articles(database: Database, directory: Path, *, embedder: Embedder | None = None) -> ImportReport:
    articles = read_directory(directory)
    version = knowledge_version(articles)
    async with database.session() as session:
        if not database.is_sqlite:
            connection = await session.connection()
            await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _IMPORT_LOCK_KEY})
        stored = {row.id: row.content_hash for row in (await session.exec(select(KbArticle))).all()}
        report = ImportReport(version=version)
        for article in articles:
            if article.id not in stored:
                report.added.append(article.id)
            elif stored[article.id] != fingerprint(article):
                report.changed.append(article.id)
            else:
                report.unchanged.append(article.id)
        present = {a.id for a in articles}
        report.removed = sorted(set(stored) - present)
        if report.touched:
            report.passages_written = await _write(session, articles, report)
            await _set_state(session, version)
        await session.commit()
    if embedder is not None:
        report.embedded = await embed_missing(database, embedder)
    return report


async def _write(session: AsyncSession, articles: list[Article], report: ImportReport) -> int:
    replaced = [*report.changed, *report.removed]
    if replaced:
        await session.exec(delete(KbPassage).where(col(KbPassage.article_id).in_(replaced)))
    if report.removed:
        await session.exec(delete(KbArticle).where(col(KbArticle.id).in_(report.removed)))
    now = utcnow()
    fresh = {*report.added, *report.changed}
    passages: list[dict[str, object]] = []
    for article in articles:
        if article.id not in fresh:
            continue
        values: dict[str, Any] = {
            "title": article.title,
            "url": article.url,
            "updated": article.updated,
            "content_hash": fingerprint(article),
            "imported_at": now,
        }
        if article.id in report.changed:
            await session.exec(update(KbArticle).where(col(KbArticle.id) == article.id).values(**values))
        else:
            session.add(KbArticle(id=article.id, **values))
        passages.extend(
            {
                "id": f"{article.id}#{part.position}",
                "article_id": article.id,
                "position": part.position,
                "section": part.section,
                "text": part.text,
                "keywords": article.keywords,
                "embedding": None,
                "embedding_model": None,
            }
            for part in chunk(article)
        )
    await session.flush()
    if passages:
        await session.exec(insert(KbPassage), params=passages)
    return len(passages)


async def _set_state(session: AsyncSession, version: str) -> None:
    articles = len((await session.exec(select(KbArticle.id))).all())
    passages = len((await session.exec(select(KbPassage.id))).all())
    state = await session.get(KbState, STATE_KEY)
    if state is None:
        state = KbState(name=STATE_KEY, version=version, updated_at=utcnow())
    state.version, state.articles, state.passages, state.updated_at = version, articles, passages, utcnow()
    session.add(state)


def embedding_text(title: str, section: str, body: str) -> str:
    return f"{title}. {section}.\n{body}" if section != title else f"{title}.\n{body}"


async def embed_missing(database: Database, embedder: Embedder) -> int:
    """Embed every passage that has no vector from the configured model; returns how many were embedded."""
    async with database.session(readonly=True) as session:
        rows = (
            await session.exec(
                select(KbPassage.id, KbArticle.title, KbPassage.section, KbPassage.text)
                .join(KbArticle, col(KbArticle.id) == col(KbPassage.article_id))
                .where(or_(col(KbPassage.embedding_model).is_(None), col(KbPassage.embedding_model) != embedder.model))
                .order_by(col(KbPassage.id))
            )
        ).all()
    if not rows:
        return 0
    vectors = await embedder.embed([embedding_text(title, section, body) for _, title, section, body in rows])
    async with database.session() as session:
        for (passage_id, *_), vector in zip(rows, vectors, strict=True):
            await session.exec(
                update(KbPassage)
                .where(col(KbPassage.id) == passage_id)
                .values(embedding=vector, embedding_model=embedder.model)
            )
        await session.commit()
    return len(rows)
