"""The import layers, as import-linter contracts in pyproject.toml: basics <- tools <- policies <- agent <-
api | evals <- cli, and api, evals and cli reaching the agent only through `agent`'s public surface.

import-linter counts every import, those inside functions too, so a lazy import cannot hide a layer broken.
"""

from __future__ import annotations

import ast
import subprocess
import sys

from tests.architecture.source import ROOT, imported_modules, sources, top


def test_the_import_contracts_hold() -> None:
    lint = subprocess.run(
        [sys.executable, "-c", "from importlinter.cli import lint_imports_command; lint_imports_command()"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert "0 broken" in lint.stdout


def test_the_turn_holds_no_sql() -> None:
    """The loop's room (`agent/turn/`) asks storage (`agent.conversations`) and the tools' gate for what it needs;
    it builds no statement itself, so it imports no SQL library."""
    found = [
        f"{s.relative}:{node.lineno} {name}"
        for s in sources("agent/turn")
        for node in ast.walk(s.tree)
        for name in imported_modules(node, s.module)
        if top(name) in ("sqlalchemy", "sqlmodel")
    ]
    assert not found, found
