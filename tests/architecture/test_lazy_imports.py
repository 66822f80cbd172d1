"""No import inside a function hides a cycle, and every one that stays says why it is lazy.

A function-level import of one of our modules is a cycle in waiting when the module it imports reaches back (by
its own top-level imports) to the importer: moved to the top it would fail, so the layering only looks clean.
The ones that stay are listed in `LAZY` with their reason, so a new one is a decision, not an accident; the
layers themselves (nothing imports upward, lazily or not) are import-linter's, in test_layers.py.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Iterator

from tests.architecture.source import LAYERS, Source, imported_modules, sources, top

FAST_CLI = "`support` starts fast: a command loads only what it runs, not the server (about a second)"
LAZY = {
    ("agent", "agent.models.claude.adapter"): "the Anthropic SDK takes about as long to import as the service",
    ("agent.models.selection", "agent.models.claude.adapter"): "the Anthropic SDK, only for a Claude model",
    ("agent.models.selection", "agent.models.openai_compatible"): "its client, only for such a model",
    ("agent.models.selection", "agent.models.offline"): "the offline model's patterns, only when it is chosen",
    ("agent.models.selection", "agent.models.fallback"): "a chain only when fallbacks are configured",
    ("agent.routing.routes", "agent.models.fallback"): "a chain only for a simple route with fallbacks",
    ("agent.models.offline.reading.patterns", "agent.models.offline"): "loads every module, so all register",
    ("api.openapi", "api.app"): "the document is built on demand; the app is not needed to read the file",
    ("cli.main", "*"): FAST_CLI,
    ("cli.kb", "*"): FAST_CLI,
    ("cli.eval.harness", "api.app"): "the app is built per case, with the case's settings",
    ("cli.eval.harness", "api.settings"): "as api.app, with the case's settings",
    ("cli.eval.harness", "api.services"): "only when a store template is built",
    ("cli.eval.harness", "api.auth"): "only when a case signs a token",
}
"""(importer, imported) -> why the import is inside a function; `*` for every module the importer loads lazily."""
ON_DEMAND = {
    ("agent.models.offline.reading.patterns", "agent.models.offline"): "`registered()` walks the package so every "
    "module has registered its patterns: a loader of its own package, called after the package is imported",
}
"""The one kind of reaching back allowed: a registry that loads its own package when asked, never at import."""


def ours(name: str) -> bool:
    return top(name) in LAYERS


def module_level_imports(source: Source) -> Iterator[str]:
    for node in source.tree.body:
        nodes = [node] if isinstance(node, ast.Import | ast.ImportFrom) else []
        if isinstance(node, ast.If | ast.Try):  # `if TYPE_CHECKING:` imports never run, but are no cycle either
            nodes = [n for n in ast.walk(node) if isinstance(n, ast.Import | ast.ImportFrom)]
        for found in nodes:
            yield from (name for name in imported_modules(found, source.module) if ours(name))


def function_level_imports(source: Source) -> Iterator[tuple[int, str]]:
    for function in ast.walk(source.tree):
        if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            for node in ast.walk(function):
                if isinstance(node, ast.Import | ast.ImportFrom):
                    module = node.module if isinstance(node, ast.ImportFrom) else node.names[0].name
                    if module and not getattr(node, "level", 0) and ours(module):
                        yield node.lineno, module


def graph() -> dict[str, set[str]]:
    known = {s.module for s in sources(*LAYERS)}
    edges: dict[str, set[str]] = defaultdict(set)
    for source in sources(*LAYERS):
        for name in module_level_imports(source):
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != source.module:
                edges[source.module].add(name)
    return edges


def reaches(edges: dict[str, set[str]], start: str, goal: str) -> bool:
    seen, todo = set(), [start]
    while todo:
        here = todo.pop()
        if here == goal:
            return True
        if here not in seen:
            seen.add(here)
            todo.extend(edges.get(here, ()))
    return False


def test_no_function_level_import_hides_a_cycle() -> None:
    edges = graph()
    hidden = [
        f"{s.relative}:{line} imports {module}, which imports {s.module} back"
        for s in sources(*LAYERS)
        for line, module in function_level_imports(s)
        if module != s.module and reaches(edges, module, s.module) and (s.module, module) not in ON_DEMAND
    ]
    assert not hidden, hidden


def test_every_function_level_import_says_why() -> None:
    unexplained = [
        f"{s.relative}:{line} imports {module}"
        for s in sources(*LAYERS)
        for line, module in function_level_imports(s)
        if (s.module, module) not in LAZY and (s.module, "*") not in LAZY
    ]
    assert not unexplained, unexplained


def test_every_reason_still_has_its_import() -> None:
    found = {(s.module, m) for s in sources(*LAYERS) for _, m in function_level_imports(s)}
    importers = {importer for importer, _ in found}
    stale = [pair for pair in LAZY if pair not in found and not (pair[1] == "*" and pair[0] in importers)]
    assert not stale, stale
