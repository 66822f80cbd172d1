"""Measuring retrieval on labelled questions: recall@1, recall@5 and MRR, per search mode.

A question counts as found at rank r when the r-th passage returned belongs to one of the articles labelled as
answering it; passages of one article are counted once (the article's best rank), as a reader sees articles.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from basics.database import Database
from tools.knowledge.errors import ArticleInvalid
from tools.knowledge.search import HelpCentre, Mode

DEPTH = 10


@dataclass(frozen=True, slots=True)
class LabelledQuestion:
    question: str
    articles: frozenset[str]


@dataclass(frozen=True, slots=True)
class Scores:
    mode: str
    questions: int
    recall_at_1: float
    recall_at_5: float
    mrr: float
    misses: tuple[str, ...]
    """Questions with no labelled article in the top five."""


def load_questions(path: Path) -> list[LabelledQuestion]:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ArticleInvalid(str(path), f"cannot read the questions: {exc}") from None
    if not isinstance(raw, list):
        raise ArticleInvalid(str(path), "expected a list of {question, articles}")
    questions = []
    for index, entry in enumerate(raw):
        if not isinstance(entry, dict) or not entry.get("question") or not entry.get("articles"):
            raise ArticleInvalid(str(path), f"entry {index} needs a question and its articles")
        articles = entry["articles"] if isinstance(entry["articles"], list) else [entry["articles"]]
        questions.append(LabelledQuestion(str(entry["question"]), frozenset(str(a) for a in articles)))
    return questions


def first_relevant_rank(article_ids: list[str], wanted: frozenset[str]) -> int | None:
    distinct = list(dict.fromkeys(article_ids))
    return next((rank for rank, article in enumerate(distinct, start=1) if article in wanted), None)


async def evaluate(database: Database, centre: HelpCentre, questions: list[LabelledQuestion], mode: Mode) -> Scores:
    ranks: list[int | None] = []
    async with database.session(readonly=True) as session:
        for q in questions:
            result = await centre.search(session, q.question, limit=DEPTH, mode=mode)
            ranks.append(first_relevant_rank([p.article_id for p in result.passages], q.articles))
    total = len(questions) or 1
    return Scores(
        mode=mode,
        questions=len(questions),
        recall_at_1=sum(1 for r in ranks if r == 1) / total,
        recall_at_5=sum(1 for r in ranks if r is not None and r <= 5) / total,
        mrr=sum(1 / r for r in ranks if r is not None) / total,
        misses=tuple(q.question for q, r in zip(questions, ranks, strict=True) if r is None or r > 5),
    )
