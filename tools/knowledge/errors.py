"""Errors of the help centre.

KnowledgeError
├── ArticleInvalid          an article file cannot be imported (no front matter, a missing field, a bad id)
├── EmbeddingsMisconfigured SUPPORT_EMBEDDINGS is not `openai:<model>@<base url>`
└── EmbeddingsUnavailable   the embeddings endpoint failed after its retries; search falls back to keywords
"""

from __future__ import annotations


class KnowledgeError(Exception):
    pass


class ArticleInvalid(KnowledgeError):
    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


class EmbeddingsMisconfigured(KnowledgeError, ValueError):
    pass


class EmbeddingsUnavailable(KnowledgeError):
    pass
