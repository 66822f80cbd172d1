"""Keyword search inside the database: SQLite FTS5 ranked by bm25, PostgreSQL full-text search ranked by
`ts_rank_cd` over a GIN-indexed `tsvector`.

Both indexes live in a table named `kb_search_index` that the migration creates for its database, and the
importer keeps in step with `kb_passages` in the same transaction. Customers write questions, not search
syntax, so a query is reduced to its words and they are OR-ed: a passage that matches more of them, and
rarer ones, ranks higher. Title and section weigh more than body text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import bindparam, text
from sqlmodel.ext.asyncio.session import AsyncSession

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
MAX_QUERY_WORDS = 32
# Words that say nothing about what an article is about. FTS5 has no stop-word list of its own; PostgreSQL's
# english configuration drops these anyway.
_STOP_WORDS = (
    "a an and are as at be been but by can could did do does doing for from had has have how i i'm if in into is "
    "it its me my no not of on or our so than that the their them then there these they this to too us was we "
    "were what when where which who why will with would you your yours hi hello please thanks thank just "
    # Spanish and German function words: some customers write in those languages, and the articles' keywords do.
    "el la los las de del que en y un una mi mis tu por para con es se lo al me hay como cómo puedo "
    "der die das den dem des und ich mein meine meinen ist es zu nicht ein eine auch auf für mit wie was wo kann"
)
_STOP = frozenset(_STOP_WORDS.split(" "))

SQLITE_SEARCH = text(
    "SELECT passage_id, -bm25(kb_search_index, 0.0, 3.0, 2.0, 3.0, 1.0) AS score FROM kb_search_index "
    "WHERE kb_search_index MATCH :query ORDER BY score DESC LIMIT :limit"
)
POSTGRES_SEARCH = text(
    "SELECT passage_id, ts_rank_cd(document, query) AS score "
    "FROM kb_search_index, websearch_to_tsquery('english', :query) AS query "
    "WHERE document @@ query ORDER BY score DESC, passage_id LIMIT :limit"
)
SQLITE_INDEX = text(
    "INSERT INTO kb_search_index (passage_id, title, section, keywords, body) "
    "SELECT p.id, a.title, p.section, p.keywords, p.text FROM kb_passages p JOIN kb_articles a ON a.id = p.article_id "
    "WHERE p.article_id IN :articles"
).bindparams(bindparam("articles", expanding=True))
POSTGRES_INDEX = text(
    "INSERT INTO kb_search_index (passage_id, article_id, document) "
    "SELECT p.id, p.article_id, setweight(to_tsvector('english', a.title), 'A') "
    "|| setweight(to_tsvector('english', p.section), 'B') || setweight(to_tsvector('english', p.keywords), 'B') "
    "|| setweight(to_tsvector('english', p.text), 'D') "
    "FROM kb_passages p JOIN kb_articles a ON a.id = p.article_id WHERE p.article_id IN :articles"
).bindparams(bindparam("articles", expanding=True))


@dataclass(frozen=True, slots=True)
class Hit:
    passage_id: str
    score: float


def query_words(query: str) -> list[str]:
    """The query's distinct content words, lowercased, in order."""
    words = [w.lower() for w in _WORD.findall(query)]
    kept = [w for w in dict.fromkeys(words) if w not in _STOP and len(w) > 1]
    return kept[:MAX_QUERY_WORDS]


def _sqlite_match(words: Sequence[str]) -> str:
    # Each word is quoted, so nothing a customer types is read as FTS5 syntax (AND, NEAR, column filters...).
    return " OR ".join('"' + w.replace('"', '""') + '"' for w in words)


async def keyword_search(session: AsyncSession, query: str, limit: int) -> list[Hit]:
    words = query_words(query)
    if not words:
        return []
    if session.get_bind().dialect.name == "sqlite":
        statement, bound = SQLITE_SEARCH, _sqlite_match(words)
    else:
        statement, bound = POSTGRES_SEARCH, " or ".join(words)
    connection = await session.connection()  # raw SQL: the index tables are not mapped
    rows = await connection.execute(statement, {"query": bound, "limit": limit})
    return [Hit(str(passage_id), float(score)) for passage_id, score in rows.all()]


async def drop_from_index(session: AsyncSession, article_ids: Sequence[str]) -> None:
    if not article_ids:
        return
    if session.get_bind().dialect.name == "sqlite":
        statement = text(
            "DELETE FROM kb_search_index WHERE passage_id IN (SELECT id FROM kb_passages WHERE article_id IN :ids)"
        )
    else:
        statement = text("DELETE FROM kb_search_index WHERE article_id IN :ids")
    connection = await session.connection()
    await connection.execute(statement.bindparams(bindparam("ids", expanding=True)), {"ids": list(article_ids)})


async def add_to_index(session: AsyncSession, article_ids: Sequence[str]) -> None:
    """Index the passages of these articles (already inserted in this transaction)."""
    if not article_ids:
        return
    statement = SQLITE_INDEX if session.get_bind().dialect.name == "sqlite" else POSTGRES_INDEX
    connection = await session.connection()
    await connection.execute(statement, {"articles": list(article_ids)})
