"""Where a database dialect changes what we do, a class says so (`agent.conversations.postgres`,
`basics.batched`'s writers): no `dialect == "..."` comparison in the code, where a third backend would be
silently taken for the generic one."""

from __future__ import annotations

import ast

from tests.architecture.source import SHIPPED, sources

DIALECT_MODULES = {"basics.dialects"}
"""Where the engine is made and the dialect named, once, by the URL: the classes are chosen there."""


def compares_a_dialect(node: ast.AST) -> bool:
    if not isinstance(node, ast.Compare):
        return False
    sides = [node.left, *node.comparators]
    return any(
        (isinstance(side, ast.Attribute) and side.attr in ("dialect", "name") and "dialect" in ast.unparse(side))
        or (isinstance(side, ast.Name) and side.id == "dialect")
        for side in sides
    )


def test_no_dialect_comparison_outside_the_dialect_classes() -> None:
    found = [
        f"{s.relative}:{node.lineno} {ast.unparse(node)}"
        for s in sources(*SHIPPED)
        if s.module not in DIALECT_MODULES
        for node in ast.walk(s.tree)
        if compares_a_dialect(node)
    ]
    assert not found, found
