"""`support kb import DIR`: the help centre is imported at seed time, and a re-import rewrites only what changed."""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlmodel import col, select

from basics.database import Database
from cli.main import main
from tools.knowledge.articles import read_article
from tools.knowledge.chunking import chunk
from tools.knowledge.importer import DEFAULT_DIRECTORY, import_articles
from tools.knowledge.search import HelpCentre
from tools.knowledge.tables import KbArticle, KbPassage, KbState

ARTICLES = len(list(DEFAULT_DIRECTORY.glob("*.md")))


def kb_import(directory: Path, capsys: pytest.CaptureFixture[str]) -> str:
    main(["kb", "import", str(directory)])
    return capsys.readouterr().out


@dataclass
class Snapshot:
    version: str | None
    articles: dict[str, KbArticle]
    passages: dict[str, KbPassage]
    found: list[str]


def snapshot(url: str, query: str = "") -> Snapshot:
    """What the database holds for the help centre (and which articles a keyword search for `query` finds)."""

    async def read() -> Snapshot:
        database = Database(url)
        try:
            async with database.session(readonly=True) as session:
                state = await session.get(KbState, "help_centre")
                articles = {a.id: a for a in (await session.exec(select(KbArticle))).all()}
                passages = (await session.exec(select(KbPassage).order_by(col(KbPassage.id)))).all()
                found = await HelpCentre().search(session, query) if query else None
        finally:
            await database.dispose()
        return Snapshot(
            version=state.version if state else None,
            articles=articles,
            passages={p.id: p for p in passages},
            found=[p.article_id for p in found.passages] if found else [],
        )

    return asyncio.run(read())


def imported_at(state: Snapshot, but: tuple[str, ...] = ()) -> dict[str, object]:
    return {k: a.imported_at for k, a in state.articles.items() if k not in but}


@pytest.fixture
def articles(tmp_path: Path) -> Path:
    directory = tmp_path / "help_centre"
    shutil.copytree(DEFAULT_DIRECTORY, directory)
    return directory


def test_seeding_imported_the_help_centre_and_a_reimport_changes_nothing(
    database_url: str, articles: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    before = snapshot(database_url, "What's your return policy?")
    assert len(before.articles) == ARTICLES
    assert before.found[0] == "returns-policy"
    out = kb_import(articles, capsys)
    assert f"0 added, 0 changed, 0 removed, {ARTICLES} unchanged; 0 passages written" in out
    after = snapshot(database_url)
    assert after.version == before.version
    assert imported_at(after) == imported_at(before)


def test_a_reimport_rewrites_only_the_changed_added_and_removed_articles(
    database_url: str, articles: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    before = snapshot(database_url)
    warranty = articles / "warranty.md"
    warranty.write_text(
        warranty.read_text().replace("Damage from accidents", "Damage from zeppelin crashes, accidents"),
        encoding="utf-8",
    )
    (articles / "privacy.md").unlink()
    (articles / "pet-policy.md").write_text(
        "---\nid: pet-policy\ntitle: Ordering for your pets\nurl: https://help.example-store.com/articles/pets\n"
        "updated: 2026-11-01\n---\n## Pet beds\nOur pet beds are washable; the cover comes off for the laundry.\n",
        encoding="utf-8",
    )
    out = kb_import(articles, capsys)
    assert f"1 added, 1 changed, 1 removed, {ARTICLES - 2} unchanged" in out

    after = snapshot(database_url, "zeppelin")
    assert after.version != before.version
    assert after.found == ["warranty"]  # the changed text is searchable
    assert "privacy" not in after.articles
    assert not [p for p in after.passages if p.startswith("privacy#")]
    assert snapshot(database_url, "personal data delete").found[:1] != ["privacy"]
    assert snapshot(database_url, "washable laundry").found[:1] == ["pet-policy"]
    assert imported_at(after, but=("warranty", "pet-policy")) == imported_at(before, but=("warranty", "privacy"))


def test_an_invalid_article_fails_the_import_and_changes_nothing(
    database_url: str, articles: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    before = snapshot(database_url)
    (articles / "cancel-order.md").write_text("Cancel any time!\n", encoding="utf-8")  # changed, but broken
    (articles / "broken.md").write_text("---\nid: broken\ntitle: No url\nupdated: 2026-01-01\n---\nText\n")
    with pytest.raises(SystemExit) as exited:
        kb_import(articles, capsys)
    assert "import failed, nothing changed" in str(exited.value)
    after = snapshot(database_url)
    assert after.version == before.version
    assert after.articles["cancel-order"].content_hash == before.articles["cancel-order"].content_hash


async def test_two_imports_at_once_apply_the_change_once(database_url: str, articles: Path) -> None:
    """Two replicas importing the same change together (a rolling start): one writes it, the other finds it done."""
    (articles / "gift-cards.md").write_text(
        (articles / "gift-cards.md").read_text().replace("Lost or stolen cards", "Lost, stolen or expired cards"),
        encoding="utf-8",
    )
    first, second = Database(database_url), Database(database_url)
    try:
        reports = await asyncio.gather(import_articles(first, articles), import_articles(second, articles))
    finally:
        await first.dispose()
        await second.dispose()
    assert sorted(len(r.changed) for r in reports) == [0, 1]
    assert reports[0].version == reports[1].version
    state = await asyncio.to_thread(snapshot, database_url, "expired cards")
    assert state.version == reports[0].version and state.found[0] == "gift-cards"
    expected = [f"gift-cards#{c.position}" for c in chunk(read_article(articles / "gift-cards.md"))]
    assert sorted(p for p in state.passages if p.startswith("gift-cards#")) == expected  # no duplicates
