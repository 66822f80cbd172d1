"""Keyword search over the help centre's passages, in process, ranked by BM25: the same ranking on every
database.

The help centre is small (a few hundred passages), so its term index is built in memory from `kb_passages`
once per knowledge-base version, as the vector index is, and a search is a loop over the query's few terms.
Ranking it here rather than in each database's full-text engine gives one ranking everywhere: SQLite's FTS5
scores by BM25 but PostgreSQL's `ts_rank_cd` ignores how rare a word is, and the two answered different
questions right.

A passage's terms are its title's, section heading's and the article's keywords (each counted `FIELD_WEIGHT`
times: they say what the passage is about) and its body's. A query word the index does not know is read as the
indexed word one edit away ("retrun", "adress"), found with `rapidfuzz`.

Besides the BM25 score, each hit says how much of the question it covers: the share of the query's weight
(the inverse document frequency of each of its terms, a word no passage has counting as the rarest) that the
passage contains. Unlike a BM25 score it is comparable across questions, so a caller can tell "the best of
what we have" from "an answer" (`RELEVANT_ENOUGH`). The names of the store's products weigh nothing there:
"is there a warranty on the office chair?" is a question about warranties, whatever the chair.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

from rapidfuzz import process
from rapidfuzz.distance import OSA
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from tools.knowledge.analysis import MAX_QUERY_WORDS, terms, words
from tools.knowledge.tables import KbArticle, KbPassage
from tools.store.tables import Product

K1 = 1.2
B = 0.75
FIELD_WEIGHT = 3
"""How many times a title, heading or keyword term counts against one in the body."""
RELEVANT_ENOUGH = 0.4
"""The share of a question's weight a passage must cover to be taken as answering it. On the labelled questions
(`fixtures/help_centre/questions.yaml`) nine in ten right answers cover more; questions the help centre does not
answer ("do you sell bicycles", "who won the game") mostly cover 0.2 to 0.37."""


@dataclass(frozen=True, slots=True)
class Hit:
    passage_id: str
    score: float
    coverage: float = 0.0
    """The share of the query's weight this passage contains, 0 to 1."""


@dataclass(frozen=True, slots=True)
class _Document:
    passage_id: str
    frequencies: Counter[str]
    length: int


class KeywordIndex:
    """BM25 over the passages of one knowledge-base version."""

    def __init__(self, passages: list[tuple[str, str, str]], products: tuple[str, ...] = ()) -> None:
        """`passages`: (passage id, what it is about: title, heading and keywords, its body) for each passage;
        `products`: the store's product names, whose words a question may name without being about them."""
        self.documents = []
        surface: set[str] = set()
        for passage_id, heading, body in passages:
            frequencies = Counter(terms(body))
            heading_terms = terms(heading)
            for term in heading_terms:
                frequencies[term] += FIELD_WEIGHT
            length = frequencies.total()
            self.documents.append(_Document(passage_id, frequencies, length))
            surface.update(words(heading), words(body))
        self.spellings = sorted(surface)
        self.known = frozenset(surface)
        self.average_length = sum(d.length for d in self.documents) / max(1, len(self.documents))
        containing = Counter(term for d in self.documents for term in d.frequencies)
        total = len(self.documents)
        self.idf = {term: math.log(1 + (total - n + 0.5) / (n + 0.5)) for term, n in containing.items()}
        self.unknown_idf = math.log(1 + (total + 0.5) / 0.5)
        self.objects = frozenset(t for name in products for t in terms(name)) - set(self.idf)
        self.postings: dict[str, list[tuple[int, int]]] = {}
        for index, document in enumerate(self.documents):
            for term, count in document.frequencies.items():
                self.postings.setdefault(term, []).append((index, count))

    def query_terms(self, query: str) -> list[str]:
        """The query's distinct terms; a word the index lacks is read as the indexed word one edit from it."""
        found: list[str] = []
        for word in list(dict.fromkeys(words(query)))[:MAX_QUERY_WORDS]:
            if word not in self.known and len(word) >= 6:
                allowed = 2 if len(word) >= 9 else 1
                near = process.extractOne(word, self.spellings, scorer=OSA.distance, score_cutoff=allowed)
                word = str(near[0]) if near is not None else word
            found.extend(terms(word))
        return list(dict.fromkeys(found))

    def coverage(self, query: str, passage_ids: list[str]) -> dict[str, float]:
        """How much of the query each of these passages covers (see `Hit.coverage`)."""
        query_terms = self.query_terms(query)
        weight = self._weight(query_terms)
        by_id = {d.passage_id: d for d in self.documents}
        out = {}
        for passage_id in passage_ids:
            document = by_id.get(passage_id)
            have = sum(self.idf[t] for t in query_terms if document is not None and t in document.frequencies)
            out[passage_id] = have / weight if weight else 0.0
        return out

    def _weight(self, query_terms: list[str]) -> float:
        return sum(self.idf.get(t, 0.0 if t in self.objects else self.unknown_idf) for t in query_terms)

    def search(self, query: str, limit: int) -> list[Hit]:
        query_terms = self.query_terms(query)
        weight = self._weight(query_terms)
        scores: dict[int, float] = {}
        covered: dict[int, float] = {}
        for term in query_terms:
            idf = self.idf.get(term)
            if idf is None:
                continue
            for index, count in self.postings[term]:
                document = self.documents[index]
                norm = K1 * (1 - B + B * document.length / self.average_length)
                scores[index] = scores.get(index, 0.0) + idf * count * (K1 + 1) / (count + norm)
                covered[index] = covered.get(index, 0.0) + idf
        ranked = sorted(scores, key=lambda i: (-scores[i], self.documents[i].passage_id))[:limit]
        return [Hit(self.documents[i].passage_id, scores[i], covered[i] / weight) for i in ranked]


class KeywordIndexes:
    """The index of the current knowledge-base version, built on first use and kept until the version moves."""

    def __init__(self) -> None:
        self._version: str | None = None
        self._index: KeywordIndex | None = None

    async def index(self, session: AsyncSession, version: str | None) -> KeywordIndex:
        if self._index is not None and version is not None and version == self._version:
            return self._index
        rows = (
            await session.exec(
                select(KbPassage, KbArticle.title)
                .join(KbArticle, col(KbArticle.id) == col(KbPassage.article_id))
                .order_by(col(KbPassage.id))
            )
        ).all()
        products = tuple((await session.exec(select(Product.name))).all())
        index = KeywordIndex(
            [(p.id, f"{title}\n{p.section if p.section != title else ''}\n{p.keywords}", p.text) for p, title in rows],
            products,
        )
        if version is not None:
            self._version, self._index = version, index
        return index
