"""A local stand-in for an OpenAI-compatible `/embeddings` endpoint, served over real HTTP by the tests.

Its vectors are deterministic and small: one dimension per *concept*, counted from trigger words in several
languages, plus a constant dimension so a text with no concept still has a direction. That gives the search a
"meaning" the keyword index does not have ("mandar de vuelta" is about returning, though no article says it),
which is what a test of rank fusion needs, without a real model. `fail_next` makes the next answers 503s.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

CONCEPTS: dict[str, tuple[str, ...]] = {
    "return": ("return", "send back", "mandar de vuelta", "devolver", "zurückschicken"),
    "refund": ("refund", "money back", "reembolso", "erstattung"),
    "shipping": ("shipping", "ship ", "delivery", "envío", "versand"),
    "cancel": ("cancel", "stornieren", "cancelar"),
    "gift card": ("gift card", "tarjeta regalo", "geschenkkarte"),
    "warranty": ("warranty", "garantía", "garantie"),
    "damage": ("damaged", "broken", "roto", "kaputt"),
}


def embed(text: str) -> list[float]:
    lowered = text.lower()
    return [float(sum(lowered.count(word) for word in words)) for words in CONCEPTS.values()] + [0.1]


@dataclass
class FakeEmbeddings:
    fail_next: int = 0
    requests: list[dict[str, Any]] = field(default_factory=list)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/v1/embeddings")
        async def embeddings(request: Request) -> JSONResponse:
            body = await request.json()
            self.requests.append(body)
            if self.fail_next > 0:
                self.fail_next -= 1
                return JSONResponse({"error": {"message": "overloaded"}}, status_code=503)
            texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
            data = [{"object": "embedding", "index": i, "embedding": embed(t)} for i, t in enumerate(texts)]
            return JSONResponse({"object": "list", "data": data, "model": body["model"]})

        return app
