"""Splitting an article into passages by meaning: one heading's section at a time, long sections in windows.

A passage keeps its article title and section heading, so a search hit can be cited and shown on its own. A
section longer than `max_words` is cut into windows that overlap by `overlap_words`, so a sentence on the
border is whole in at least one passage. Words stand in for tokens (about 1.3 tokens per English word): the
aim is "a few hundred tokens", not an exact count.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tools.knowledge.articles import Article

_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
MAX_WORDS = 220
OVERLAP_WORDS = 30


@dataclass(frozen=True, slots=True)
class Chunk:
    position: int
    section: str
    text: str


def sections(article: Article) -> list[tuple[str, str]]:
    """(heading, text) pairs in order; text before the first heading belongs to the article's title."""
    found: list[tuple[str, list[str]]] = [(article.title, [])]
    for line in article.body.splitlines():
        heading = _HEADING.match(line)
        if heading and len(heading.group(1)) > 1:
            found.append((heading.group(2), []))
        elif heading:
            continue  # a level-one heading repeats the title
        else:
            found[-1][1].append(line)
    return [(title, "\n".join(lines).strip()) for title, lines in found if "\n".join(lines).strip()]


def windows(words: list[str], max_words: int, overlap: int) -> list[list[str]]:
    if len(words) <= max_words:
        return [words]
    step = max_words - overlap
    parts = [words[start : start + max_words] for start in range(0, len(words) - overlap, step)]
    return [part for part in parts if part]


def chunk(article: Article, *, max_words: int = MAX_WORDS, overlap: int = OVERLAP_WORDS) -> list[Chunk]:
    chunks: list[Chunk] = []
    for heading, text in sections(article):
        parts = windows(text.split(), max_words, overlap)
        for part in parts:
            # A section that fits keeps its own line breaks (lists read better when cited).
            shown = text if len(parts) == 1 else " ".join(part)
            chunks.append(Chunk(position=len(chunks), section=heading, text=shown))
    return chunks
