"""`support kb import DIR` and `support kb eval`: the help centre from the command line."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from api.settings import Settings
from tools.knowledge.importer import DEFAULT_DIRECTORY


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    kb = commands.add_parser("kb", help="the help centre: import articles, measure retrieval")
    sub = kb.add_subparsers(dest="kb_command", required=True)
    p = sub.add_parser("import", help="import a directory of Markdown articles (only what changed)")
    p.add_argument("directory", type=Path, nargs="?", default=DEFAULT_DIRECTORY)
    p.set_defaults(func=import_command)
    p = sub.add_parser("eval", help="recall@1, recall@5 and MRR on labelled questions, per search mode")
    p.add_argument("--directory", type=Path, default=DEFAULT_DIRECTORY, help="articles, imported first if changed")
    p.add_argument("--questions", type=Path, default=DEFAULT_DIRECTORY / "questions.yaml")
    p.add_argument("--misses", action="store_true", help="list the questions not answered in the top five")
    p.set_defaults(func=eval_command)


def import_command(args: argparse.Namespace) -> None:
    from api import migrate
    from api.services import build_embedder
    from basics.database import Database
    from tools.knowledge.errors import KnowledgeError
    from tools.knowledge.importer import import_articles

    settings = Settings()

    async def run() -> None:
        database = Database(settings.database_url)
        embedder = build_embedder(settings)
        try:
            await migrate.upgrade(database)
            report = await import_articles(database, args.directory, embedder=embedder)
        finally:
            if embedder is not None:
                await embedder.close()
            await database.dispose()
        print(
            f"help centre {report.version}: {len(report.added)} added, {len(report.changed)} changed, "
            f"{len(report.removed)} removed, {len(report.unchanged)} unchanged; "
            f"{report.passages_written} passages written, {report.embedded} embedded"
        )

    try:
        asyncio.run(run())
    except KnowledgeError as exc:
        sys.exit(f"import failed, nothing changed: {exc}")


def eval_command(args: argparse.Namespace) -> None:
    from api import migrate
    from api.services import build_embedder
    from basics.database import Database
    from tools.knowledge.errors import KnowledgeError
    from tools.knowledge.evaluation import evaluate, load_questions
    from tools.knowledge.importer import import_articles
    from tools.knowledge.search import HelpCentre, Mode

    settings = Settings()

    async def run() -> None:
        questions = load_questions(args.questions)
        database = Database(settings.database_url)
        embedder = build_embedder(settings)
        centre = HelpCentre(embedder)
        modes: list[Mode] = ["keyword", "vector", "hybrid"] if embedder is not None else ["keyword"]
        try:
            await migrate.upgrade(database)
            await import_articles(database, args.directory, embedder=embedder)
            print(f"{len(questions)} questions; embeddings: {embedder.spec.label if embedder else 'none'}")
            print(f"{'mode':<8} {'recall@1':>9} {'recall@5':>9} {'MRR':>7}")
            for mode in modes:
                scores = await evaluate(database, centre, questions, mode)
                print(f"{mode:<8} {scores.recall_at_1:>9.3f} {scores.recall_at_5:>9.3f} {scores.mrr:>7.3f}")
                if args.misses:
                    for miss in scores.misses:
                        print(f"  missed: {miss}")
            if embedder is None:
                print("vector, hybrid: not measured (set SUPPORT_EMBEDDINGS=openai:<model>@<base url>)")
        finally:
            if embedder is not None:
                await embedder.close()
            await database.dispose()

    try:
        asyncio.run(run())
    except KnowledgeError as exc:
        sys.exit(f"eval failed: {exc}")
