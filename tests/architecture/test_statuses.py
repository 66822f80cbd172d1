"""Statuses are named through their enums (`agent.held.status`): no run, held-call or hand-off status written as a
string literal where a status is compared, assigned, filtered on or passed, anywhere else in the service.

A literal counts where its place says it is a status: compared with, assigned to or passed as something called
`status`, `kind` or `decision` (a held call's kind and a confirmation's answer are part of the same state
machine), a run's ending (`Ending("failed", ...)`), a `Literal[...]` of them, or a list of nothing but
statuses. The store's own order statuses
(`tools/`, and the offline model that reads them) are the store's vocabulary, not ours, and are not checked.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from agent.held import status
from tests.architecture.source import Source, sources

ENUM_MODULE = "agent.held.status"
CHECKED = ("agent", "api", "cli", "evals")
NOT_OURS = ("agent.models",)
"""The model adapters and the offline model speak of the store's orders (`pending`, `delivered`), not our rows."""
VALUES = frozenset(
    {
        *(s.value for s in status.RunStatus),
        *(s.value for s in status.ApprovalStatus),
        *(s.value for s in status.HeldKind),
        *(s.value for s in status.HandoffStatus),
        status.ANY_OPEN,
        status.CONFIRM,
        status.DECLINE,
        status.CONFIRMED,
        status.DECLINED,
    }
)
NAMES = ("status", "kind", "decision", "outcome")


def _about_status(node: ast.AST) -> bool:
    text = ast.unparse(node).lower()
    return any(name in text for name in NAMES) and "order" not in text  # an order's status is the store's word


def _constants(node: ast.AST) -> Iterator[ast.Constant]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in VALUES:
        yield node
    elif isinstance(node, ast.Tuple | ast.List | ast.Set):
        for item in node.elts:
            yield from _constants(item)
    elif isinstance(node, ast.IfExp):
        yield from _constants(node.body)
        yield from _constants(node.orelse)


def status_literals(source: Source) -> Iterator[ast.Constant]:
    """The string constants of `source` that stand for a status, by where they are."""
    for node in ast.walk(source.tree):
        if (
            isinstance(node, ast.List | ast.Tuple | ast.Set)
            and node.elts
            and len(list(_constants(node))) == len(node.elts)
        ):
            yield from _constants(node)  # a list of statuses, e.g. the states a transition may start from
        elif isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            for side in sides:
                if any(_about_status(other) for other in sides if other is not side):
                    yield from _constants(side)
        elif isinstance(node, ast.Call):
            for keyword in node.keywords:
                if keyword.arg in NAMES:
                    yield from _constants(keyword.value)
            func = ast.unparse(node.func)
            if func.endswith("Ending") and node.args:
                yield from _constants(node.args[0])
            if func.endswith(".in_") and _about_status(node.func):
                for argument in node.args:
                    yield from _constants(argument)
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if node.value is not None and any(_about_status(target) for target in targets):
                yield from _constants(node.value)
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if isinstance(key, ast.Constant) and key.value in NAMES:
                    yield from _constants(value)
        elif isinstance(node, ast.Subscript) and ast.unparse(node.value).endswith("Literal"):
            yield from _constants(node.slice)
        elif isinstance(node, ast.arguments):
            positional = [*node.posonlyargs, *node.args]
            defaults = list(zip(positional[len(positional) - len(node.defaults) :], node.defaults, strict=True))
            defaults += [(a, d) for a, d in zip(node.kwonlyargs, node.kw_defaults, strict=True) if d is not None]
            for argument, default in defaults:
                if argument.arg in NAMES:
                    yield from _constants(default)


def test_no_status_literal_outside_the_enum_module() -> None:
    found = [
        f"{s.relative}:{literal.lineno} {literal.value!r}"
        for s in sources(*CHECKED)
        if s.module != ENUM_MODULE and not s.module.startswith(NOT_OURS)
        for literal in status_literals(s)
    ]
    assert not found, found


def test_the_literals_of_the_response_shapes_are_the_enums_values() -> None:
    from typing import get_args

    assert set(get_args(status.RunStatusName)) == {s.value for s in status.RunStatus}
    assert set(get_args(status.HeldKindName)) == {s.value for s in status.HeldKind}
    assert set(get_args(status.ApprovalFilterName)) <= {s.value for s in status.ApprovalStatus}
    assert set(get_args(status.HandoffFilterName)) == {status.ANY_OPEN, *(s.value for s in status.HandoffStatus)}


def test_every_held_call_status_has_its_moves_and_they_name_known_statuses() -> None:
    assert set(status.MOVES) == set(status.ApprovalStatus)
    for moves in status.MOVES.values():
        assert moves <= set(status.ApprovalStatus)
