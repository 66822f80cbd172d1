"""Rooms a newcomer can take in: no module over 400 lines, no folder of the agent with more than 10 modules."""

from __future__ import annotations

from collections import Counter

from tests.architecture.source import CHECKED, ROOT, sources

MAX_LINES = 400
MAX_MODULES_PER_AGENT_FOLDER = 10


def test_no_module_is_over_400_lines() -> None:
    long = {s.relative: n for s in sources(*CHECKED) if (n := len(s.text.splitlines())) > MAX_LINES}
    assert not long, long


def test_no_folder_of_the_agent_holds_more_than_10_modules() -> None:
    per_folder = Counter(
        path.parent.relative_to(ROOT).as_posix()
        for path in (ROOT / "agent").rglob("*.py")
        if path.name != "__init__.py"
    )
    crowded = {folder: n for folder, n in per_folder.items() if n > MAX_MODULES_PER_AGENT_FOLDER}
    assert not crowded, crowded
