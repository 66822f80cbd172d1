"""Searching the help centre: keyword hits (BM25, in process), vector hits when an embedding model is
configured, fused by reciprocal rank fusion.

Reciprocal rank fusion scores a passage by the sum of `1 / (k + rank)` over the lists that found it. It needs
no calibration between BM25 scores and cosine similarities (they are not comparable), and a passage both lists
rank well beats one that only one list likes. When the embeddings endpoint fails, the search answers from
keywords alone and says so in its `mode`. Every passage also carries its `relevance`, the share of the question
it covers (`keyword.Hit.coverage`), which is comparable across questions where scores are not.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from tools.knowledge.embeddings import Embedder
from tools.knowledge.errors import EmbeddingsUnavailable
from tools.knowledge.importer import STATE_KEY
from tools.knowledge.keyword import RELEVANT_ENOUGH, Hit, KeywordIndexes
from tools.knowledge.tables import KbArticle, KbPassage, KbState
from tools.knowledge.vectors import VectorIndex

log = logging.getLogger(__name__)

Mode = Literal["keyword", "vector", "hybrid"]
RRF_K = 60
CANDIDATES = 20
"""How deep each list is read before fusing."""
SHOWN_CHARS = 1200
PER_ARTICLE = 2
__all__ = ["RELEVANT_ENOUGH", "HelpCentre", "Passage", "SearchResult", "fuse"]


@dataclass(frozen=True, slots=True)
class Passage:
    id: str
    article_id: str
    title: str
    section: str
    url: str
    text: str
    score: float
    keyword_rank: int | None
    vector_rank: int | None
    relevance: float

    def as_json(self) -> dict[str, Any]:
        return {
            "passage_id": self.id,
            "article_id": self.article_id,
            "title": self.title,
            "section": self.section,
            "url": self.url,
            "text": self.text[:SHOWN_CHARS],
            "score": round(self.score, 6),
            "relevance": round(self.relevance, 3),
            "keyword_rank": self.keyword_rank,
            "vector_rank": self.vector_rank,
        }


@dataclass(frozen=True, slots=True)
class SearchResult:
    query: str
    mode: str
    """`keyword`, `hybrid`, or `keyword (embeddings unavailable)` when the endpoint failed for this query."""
    kb_version: str | None
    passages: list[Passage]

    def as_json(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "search": self.mode,
            "kb_version": self.kb_version,
            "passages": [p.as_json() for p in self.passages],
        }


def fuse(*rankings: list[Hit], k: int = RRF_K) -> list[tuple[str, float]]:
    """Reciprocal rank fusion of ranked lists (best first); ties go to the lower passage id, for stable output."""
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, hit in enumerate(ranking, start=1):
            scores[hit.passage_id] = scores.get(hit.passage_id, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


class HelpCentre:
    """The search the tool and the evaluation use. Keyword-only without an embedder."""

    def __init__(self, embedder: Embedder | None = None) -> None:
        self.embedder = embedder
        self.vectors = VectorIndex()
        self.keywords = KeywordIndexes()

    @property
    def mode(self) -> Mode:
        return "hybrid" if self.embedder is not None else "keyword"

    async def state(self, session: AsyncSession) -> KbState | None:
        return await session.get(KbState, STATE_KEY)

    async def search(
        self, session: AsyncSession, query: str, *, limit: int = 5, mode: Mode | None = None
    ) -> SearchResult:
        mode = mode or self.mode
        state = await self.state(session)
        version = state.version if state else None
        index = await self.keywords.index(session, version)
        keyword = index.search(query, CANDIDATES) if mode != "vector" else []
        vector: list[Hit] = []
        shown_mode: str = mode
        if mode != "keyword" and state is not None:
            try:
                vector = await self._vector_hits(session, query, state)
            except EmbeddingsUnavailable as exc:
                log.warning("help-centre search falls back to keywords: %s", exc)
                shown_mode = "keyword (embeddings unavailable)"
        ranked = fuse(keyword, vector) if mode == "hybrid" and vector else _scored(keyword or vector)
        fused = _varied(ranked, limit)
        relevance = index.coverage(query, [passage_id for passage_id, _ in fused])
        passages = await _load(session, fused, _ranks(keyword), _ranks(vector), relevance)
        return SearchResult(
            query=query, mode=shown_mode, kb_version=state.version if state else None, passages=passages
        )

    async def _vector_hits(self, session: AsyncSession, query: str, state: KbState) -> list[Hit]:
        if self.embedder is None:
            raise EmbeddingsUnavailable("no embedding model is configured")
        query_vector = await self.embedder.embed_query(query)
        return await self.vectors.search(
            session,
            query_vector,
            version=state.version,
            model=self.embedder.model,
            expected=state.passages,
            limit=CANDIDATES,
        )


def _varied(ranked: list[tuple[str, float]], limit: int) -> list[tuple[str, float]]:
    """The best `limit` passages, at most `PER_ARTICLE` from one article, so one long article cannot crowd out
    the others a question may need."""
    taken: dict[str, int] = {}
    out: list[tuple[str, float]] = []
    for passage_id, score in ranked:
        article = passage_id.rsplit("#", 1)[0]
        if taken.get(article, 0) < PER_ARTICLE:
            taken[article] = taken.get(article, 0) + 1
            out.append((passage_id, score))
            if len(out) == limit:
                break
    return out


def _scored(hits: list[Hit]) -> list[tuple[str, float]]:
    return [(hit.passage_id, hit.score) for hit in hits]


def _ranks(hits: list[Hit]) -> dict[str, int]:
    return {hit.passage_id: rank for rank, hit in enumerate(hits, start=1)}


async def _load(
    session: AsyncSession,
    ranked: list[tuple[str, float]],
    keyword: dict[str, int],
    vector: dict[str, int],
    relevance: dict[str, float],
) -> list[Passage]:
    if not ranked:
        return []
    ids = [pid for pid, _ in ranked]
    rows = (
        await session.exec(
            select(KbPassage, KbArticle)
            .join(KbArticle, col(KbArticle.id) == col(KbPassage.article_id))
            .where(col(KbPassage.id).in_(ids))
        )
    ).all()
    found = {passage.id: (passage, article) for passage, article in rows}
    out: list[Passage] = []
    for pid, score in ranked:
        if pid not in found:
            continue  # removed by an import between the two queries
        passage, article = found[pid]
        out.append(
            Passage(
                id=pid,
                article_id=article.id,
                title=article.title,
                section=passage.section,
                url=article.url,
                text=passage.text,
                score=score,
                keyword_rank=keyword.get(pid),
                vector_rank=vector.get(pid),
                relevance=relevance.get(pid, 0.0),
            )
        )
    return out
