"""The benchmarks import nothing from the tests: what both need (the fake Messages API, the service fixture, the
database templates) is `testkit`'s, so a test can be moved or deleted without breaking a benchmark."""

from __future__ import annotations

import ast

from tests.architecture.source import imported_modules, sources, top


def test_benchmarks_and_scripts_import_nothing_from_tests() -> None:
    found = [
        f"{s.relative}:{node.lineno} {name}"
        for s in sources("benchmarks", "scripts", "testkit")
        for node in ast.walk(s.tree)
        for name in imported_modules(node, s.module)
        if top(name) == "tests"
    ]
    assert not found, sorted(set(found))
