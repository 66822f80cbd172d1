"""Reading an article file: YAML front matter (id, title, url, updated, optional keywords), then Markdown."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import yaml

from tools.knowledge.errors import ArticleInvalid

_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*\n(.*)\Z", re.DOTALL)
_ARTICLE_ID = re.compile(r"^[a-z0-9][a-z0-9-]{1,79}$")
REQUIRED = ("id", "title", "url", "updated")


@dataclass(frozen=True, slots=True)
class Article:
    id: str
    title: str
    url: str
    updated: str
    keywords: str
    body: str
    content_hash: str


def read_article(path: Path) -> Article:
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ArticleInvalid(str(path), "not UTF-8 text") from None
    match = _FRONT_MATTER.match(text)
    if match is None:
        raise ArticleInvalid(str(path), "no front matter (a block between '---' lines at the top)")
    try:
        meta = yaml.safe_load(match.group(1))
    except yaml.YAMLError as exc:
        raise ArticleInvalid(str(path), f"front matter is not valid YAML: {exc}") from None
    if not isinstance(meta, dict):
        raise ArticleInvalid(str(path), "front matter must be a mapping")
    missing = [key for key in REQUIRED if not str(meta.get(key) or "").strip()]
    if missing:
        raise ArticleInvalid(str(path), f"front matter lacks {', '.join(missing)}")
    article_id = str(meta["id"]).strip()
    if not _ARTICLE_ID.match(article_id):
        raise ArticleInvalid(str(path), f"id {article_id!r} must be lowercase letters, digits and dashes")
    updated = meta["updated"]
    if not isinstance(updated, date):
        try:
            updated = date.fromisoformat(str(updated))
        except ValueError:
            raise ArticleInvalid(str(path), f"updated {meta['updated']!r} is not a YYYY-MM-DD date") from None
    keywords = meta.get("keywords") or []
    if isinstance(keywords, str):
        keywords = [keywords]
    body = match.group(2).strip()
    if not body:
        raise ArticleInvalid(str(path), "the article has no text")
    return Article(
        id=article_id,
        title=str(meta["title"]).strip(),
        url=str(meta["url"]).strip(),
        updated=updated.isoformat(),
        keywords=" ".join(str(k) for k in keywords),
        body=body,
        content_hash=hashlib.sha256(raw).hexdigest(),
    )


def read_directory(directory: Path) -> list[Article]:
    """Every `*.md` article of the directory, in name order; two files with one id are an error."""
    if not directory.is_dir():
        raise ArticleInvalid(str(directory), "not a directory")
    articles: list[Article] = []
    seen: dict[str, Path] = {}
    for path in sorted(directory.glob("*.md")):
        article = read_article(path)
        if article.id in seen:
            raise ArticleInvalid(str(path), f"id {article.id!r} is also used by {seen[article.id].name}")
        seen[article.id] = path
        articles.append(article)
    return articles
