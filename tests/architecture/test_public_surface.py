"""`agent.__all__` is exactly what the packages above the agent use of it, and they use nothing else.

A name added to the surface without a user, or a user reaching past it into a room (`agent.turn.loop`), fails
here; so the rooms can be rearranged with only `agent/__init__.py` to follow.
"""

from __future__ import annotations

import ast

import agent
from tests.architecture.source import sources, top

USERS = ("api", "evals", "cli")


def names_used_from_agent() -> set[str]:
    used: set[str] = set()
    for source in sources(*USERS):
        for node in ast.walk(source.tree):
            if isinstance(node, ast.ImportFrom) and node.module == "agent" and not node.level:
                used.update(alias.name for alias in node.names)
    return used


def test_agent_all_is_exactly_what_api_evals_and_cli_import() -> None:
    used = names_used_from_agent()
    assert set(agent.__all__) == used, (
        f"exported but unused: {sorted(set(agent.__all__) - used)}; used but not exported: "
        f"{sorted(used - set(agent.__all__))}"
    )
    assert len(agent.__all__) == len(set(agent.__all__))


def test_every_public_name_resolves() -> None:
    for name in agent.__all__:
        assert getattr(agent, name) is not None, name


def test_nothing_above_the_agent_imports_a_room_of_it() -> None:
    reaching = []
    for source in sources(*USERS):
        for node in ast.walk(source.tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names = [node.module]
            reaching += [f"{source.relative}:{node.lineno} {n}" for n in names if top(n) == "agent" and n != "agent"]
    assert not reaching, reaching
