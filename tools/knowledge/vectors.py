"""Vector search in process over the embeddings stored with the passages.

The PostgreSQL server here has no pgvector, so vectors are kept as JSON arrays in `kb_passages` on both
databases and compared in Python. The help centre is small (a few hundred passages), so an exact scan of unit
vectors costs a few milliseconds; the vectors are loaded once per knowledge-base version and model.
"""

from __future__ import annotations

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from tools.knowledge.keyword import Hit
from tools.knowledge.tables import KbPassage


class VectorIndex:
    def __init__(self) -> None:
        self._key: tuple[str, str] | None = None
        self._rows: list[tuple[str, list[float]]] = []

    async def _load(
        self, session: AsyncSession, version: str, model: str, expected: int
    ) -> list[tuple[str, list[float]]]:
        if self._key == (version, model):
            return self._rows
        rows = (
            await session.exec(select(KbPassage.id, KbPassage.embedding).where(col(KbPassage.embedding_model) == model))
        ).all()
        loaded = [(str(pid), [float(x) for x in vector]) for pid, vector in rows if vector]
        if len(loaded) >= expected:
            # Cache only a complete set: passages still waiting for their embeddings get picked up next time.
            self._key, self._rows = (version, model), loaded
        return loaded

    async def search(
        self, session: AsyncSession, query_vector: list[float], *, version: str, model: str, expected: int, limit: int
    ) -> list[Hit]:
        rows = await self._load(session, version, model, expected)
        scored = [
            Hit(pid, sum(a * b for a, b in zip(query_vector, vector, strict=False)))
            for pid, vector in rows
            if len(vector) == len(query_vector)
        ]
        scored.sort(key=lambda hit: (-hit.score, hit.passage_id))
        return scored[:limit]
