"""The import layers, as import-linter contracts in pyproject.toml: basics <- tools <- policies <- agent <-
api | evals <- cli, and api, evals and cli reaching the agent only through `agent`'s public surface.

import-linter counts every import, those inside functions too, so a lazy import cannot hide a layer broken.
"""

from __future__ import annotations

import subprocess
import sys

from tests.architecture.source import ROOT


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
