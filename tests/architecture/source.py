"""The project's own Python files, parsed once, for the architecture checks beside this module."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ("basics", "tools", "policies", "agent", "api", "evals", "cli")
"""Bottom first: each package may import those before it (`api` and `evals` are beside each other)."""
SHIPPED = LAYERS
CHECKED = (*LAYERS, "benchmarks", "scripts", "docker")
"""The code the rules on size hold for: all but test code (`tests/`, and `testkit/`, the fakes and fixtures the tests
and benchmarks share), where a long strict fake of an API we do not own is one concept, not a crowded room."""
FROZEN = ("api/migrations/versions",)
"""Migration scripts are history: a revision is never edited after it shipped, so no rule rewrites one."""


@dataclass(frozen=True)
class Source:
    path: Path
    module: str
    tree: ast.Module
    text: str

    @property
    def relative(self) -> str:
        return self.path.relative_to(ROOT).as_posix()


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def sources(*packages: str) -> tuple[Source, ...]:
    found = []
    for package in packages:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if any(relative.startswith(frozen) for frozen in FROZEN):
                continue
            text = path.read_text(encoding="utf-8")
            found.append(Source(path, module_name(path), ast.parse(text), text))
    return tuple(found)


def imported_modules(node: ast.AST, here: str) -> list[str]:
    """The modules an import statement names (a `from x import y` names `x.y` too: it may be a submodule)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:
            package = here.split(".")[: -node.level]
            base = ".".join([*package, base] if base else package)
        return [base, *(f"{base}.{alias.name}" for alias in node.names)]
    return []


def top(module: str) -> str:
    return module.split(".")[0]
