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
MIN_WORDS = 30
"""A section shorter than this joins the next one: a two-line section alone says too little to answer from."""
CHUNKING = f"headings-v3:{MAX_WORDS}:{OVERLAP_WORDS}:{MIN_WORDS}"
"""Names the way articles are cut; change it with the code and the next import re-cuts every article."""


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


def merged(found: list[tuple[str, str]], min_words: int, max_words: int) -> list[tuple[str, str]]:
    """Short neighbouring sections joined into one passage; a joined passage keeps each heading in its text."""
    groups: list[list[tuple[str, str]]] = []
    for section in found:
        if groups and _words(groups[-1]) < min_words and _words([*groups[-1], section]) <= max_words:
            groups[-1].append(section)
        else:
            groups.append([section])
    if len(groups) > 1 and _words(groups[-1]) < min_words and _words(groups[-2] + groups[-1]) <= max_words:
        groups[-2:] = [groups[-2] + groups[-1]]  # a short last section closes the passage before it
    return [_render(group) for group in groups]


def _words(group: list[tuple[str, str]]) -> int:
    return sum(len(text.split()) for _, text in group)


def _render(group: list[tuple[str, str]]) -> tuple[str, str]:
    if len(group) == 1:
        return group[0]
    heading = " / ".join(h for h, _ in group)[:200]
    return heading, "\n\n".join(f"{h}{'' if h[-1:] in '.?!:' else '.'} {text}" for h, text in group)


def windows(words: list[str], max_words: int, overlap: int) -> list[list[str]]:
    if len(words) <= max_words:
        return [words]
    step = max_words - overlap
    parts = [words[start : start + max_words] for start in range(0, len(words) - overlap, step)]
    return [part for part in parts if part]


def chunk(article: Article, *, max_words: int = MAX_WORDS, overlap: int = OVERLAP_WORDS) -> list[Chunk]:
    chunks: list[Chunk] = []
    for heading, text in merged(sections(article), MIN_WORDS, max_words):
        parts = windows(text.split(), max_words, overlap)
        for part in parts:
            # A section that fits keeps its own line breaks (lists read better when cited).
            shown = text if len(parts) == 1 else " ".join(part)
            chunks.append(Chunk(position=len(chunks), section=heading, text=shown))
    return chunks
