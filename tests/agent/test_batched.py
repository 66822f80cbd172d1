"""A turn's statements are built once for their shape (`basics.batched`): the same shape gives back the same
statement object, which is what lets SQLAlchemy find its compiled form without walking it again, and the shapes
kept stay bounded however unusual the turns."""

from __future__ import annotations

from collections.abc import Hashable

from agent.conversations.tables import Step
from basics.batched import MOST_SHAPES, built_once, insert_rows

STEPS = Step.__table__  # type: ignore[attr-defined]


def test_the_same_shape_gives_the_same_statement_whatever_the_values() -> None:
    first = insert_rows(STEPS, [{"run_id": "run_a", "kind": "tool"}], "step")
    second = insert_rows(STEPS, [{"run_id": "run_b", "kind": "model"}], "step")
    two_rows = insert_rows(STEPS, [{"run_id": "run_a", "kind": "tool"}] * 2, "step")
    assert first.statement is second.statement
    assert first.values == {"step0_run_id": "run_a", "step0_kind": "tool"}
    assert second.values == {"step0_run_id": "run_b", "step0_kind": "model"}
    assert two_rows.statement is not first.statement
    assert set(two_rows.values) == {"step0_run_id", "step0_kind", "step1_run_id", "step1_kind"}


def test_the_kept_shapes_stay_bounded() -> None:
    shapes: dict[Hashable, object] = {}
    builds: list[int] = []

    def build(n: int) -> object:
        builds.append(n)
        return object()

    kept = built_once(shapes, 0, lambda: build(0))
    assert built_once(shapes, 0, lambda: build(0)) is kept
    for n in range(1, MOST_SHAPES * 2):
        built_once(shapes, n, lambda n=n: build(n))  # type: ignore[misc]
    assert len(shapes) <= MOST_SHAPES
    assert builds.count(0) == 1
