"""Embedding text with any OpenAI-compatible `/embeddings` endpoint (OpenAI, Voyage's compatible API, a local
server), configured as `SUPPORT_EMBEDDINGS=openai:<model>@<base url>`.

Retries live here and only here: tenacity retries connection failures, timeouts, 429 and 5xx with exponential
backoff, a few times; then the caller gets `EmbeddingsUnavailable` and search carries on with keywords alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import httpx
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from tools.knowledge.errors import EmbeddingsMisconfigured, EmbeddingsUnavailable

RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})
BATCH = 64
QUERY_ATTEMPTS = 2
QUERY_TIMEOUT_S = 3.0


@dataclass(frozen=True, slots=True)
class EmbeddingsSpec:
    model: str
    base_url: str

    @property
    def label(self) -> str:
        return f"openai:{self.model}@{self.base_url}"


def parse_spec(value: str | None) -> EmbeddingsSpec | None:
    """`openai:<model>@<base url>`, or nothing (keyword-only search)."""
    if value is None or not value.strip():
        return None
    kind, _, rest = value.strip().partition(":")
    model, _, base_url = rest.partition("@")
    if kind != "openai" or not model or not base_url.startswith(("http://", "https://")):
        raise EmbeddingsMisconfigured(
            f"SUPPORT_EMBEDDINGS={value!r}: expected openai:<model>@<base url>, e.g. "
            "openai:text-embedding-3-small@https://api.openai.com/v1"
        )
    return EmbeddingsSpec(model=model, base_url=base_url.rstrip("/"))


class _Retryable(Exception):
    pass


def normalized(vector: list[float]) -> list[float]:
    """Unit length, so a dot product is the cosine similarity."""
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    return [x / norm for x in vector]


class Embedder:
    """Turns texts into unit vectors. One client per process; `transport` lets tests speak to a fake endpoint."""

    def __init__(
        self,
        spec: EmbeddingsSpec,
        *,
        api_key: str | None = None,
        timeout_s: float = 60.0,
        attempts: int = 3,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.spec = spec
        self.attempts = attempts
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.AsyncClient(
            base_url=spec.base_url, headers=headers, timeout=timeout_s, transport=transport
        )

    @property
    def model(self) -> str:
        return self.spec.model

    async def embed(self, texts: list[str]) -> list[list[float]]:
        """Embed passages (an import): batches, the full retry budget, and a timeout long enough for a local
        model on a CPU to embed a batch."""
        vectors: list[list[float]] = []
        for start in range(0, len(texts), BATCH):
            vectors.extend(await self._embed_batch(texts[start : start + BATCH], self.attempts, None))
        return vectors

    async def embed_query(self, text: str) -> list[float]:
        """Embed a customer's question. A customer is waiting (and, on SQLite, the tool call's transaction is
        open), so it gets one retry and a short timeout; after that the search uses keywords alone."""
        [vector] = await self._embed_batch([text], QUERY_ATTEMPTS, QUERY_TIMEOUT_S)
        return vector

    async def _embed_batch(self, texts: list[str], attempts: int, timeout_s: float | None) -> list[list[float]]:
        try:
            async for attempt in AsyncRetrying(
                retry=retry_if_exception_type(_Retryable),
                stop=stop_after_attempt(attempts),
                wait=wait_exponential(multiplier=0.2, max=2.0),
                reraise=True,
            ):
                with attempt:
                    body = await self._post(texts, timeout_s)
        except _Retryable as exc:
            raise EmbeddingsUnavailable(f"the embeddings endpoint failed {attempts} times: {exc}") from None
        return self._vectors(body, len(texts))

    async def _post(self, texts: list[str], timeout_s: float | None) -> Any:
        timeout = httpx.USE_CLIENT_DEFAULT if timeout_s is None else httpx.Timeout(timeout_s)
        try:
            response = await self._client.post(
                "/embeddings", json={"model": self.spec.model, "input": texts}, timeout=timeout
            )
        except (httpx.TransportError, httpx.TimeoutException) as exc:
            raise _Retryable(f"{type(exc).__name__}: {exc}") from exc
        if response.status_code in RETRYABLE_STATUS:
            raise _Retryable(f"HTTP {response.status_code}")
        if response.status_code != 200:
            raise EmbeddingsUnavailable(f"the embeddings endpoint answered HTTP {response.status_code}")
        try:
            return response.json()
        except ValueError:
            raise EmbeddingsUnavailable("the embeddings endpoint answered something that is not JSON") from None

    @staticmethod
    def _vectors(body: Any, expected: int) -> list[list[float]]:
        try:
            rows = sorted(body["data"], key=lambda row: int(row.get("index", 0)))
            vectors = [normalized([float(x) for x in row["embedding"]]) for row in rows]
        except (KeyError, TypeError, ValueError):
            raise EmbeddingsUnavailable("the embeddings endpoint answered in an unexpected shape") from None
        if len(vectors) != expected or len({len(v) for v in vectors}) > 1:
            raise EmbeddingsUnavailable(f"asked for {expected} embeddings, got {len(vectors)} of mixed sizes")
        return vectors

    async def close(self) -> None:
        await self._client.aclose()
