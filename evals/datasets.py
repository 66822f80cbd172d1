"""Reading the golden datasets' YAML files, with this project's evaluators known to the loader.

Apart from `cases` (the format) and `evaluators` (the checks), which it joins: the evaluators read the case
format, so the loader that needs both sits above them and neither imports the other's user.
"""

from __future__ import annotations

from pathlib import Path

from evals.cases import GOLDEN_DIR, GoldenCase, GoldenDataset, dataset_files
from evals.evaluators import EVALUATOR_TYPES


def load_dataset(path: Path) -> GoldenDataset:
    """One YAML dataset, with this project's evaluators known to the loader."""
    return GoldenDataset.from_file(path, custom_evaluator_types=EVALUATOR_TYPES)


def load_golden(directory: Path = GOLDEN_DIR) -> GoldenDataset:
    """Every golden case in one dataset (case names are unique across files; a clash is an error)."""
    cases: list[GoldenCase] = []
    seen: dict[str, Path] = {}
    for path in dataset_files(directory):
        for case in load_dataset(path).cases:
            name = case.name or ""
            if name in seen:
                raise ValueError(f"case {name!r} is in both {seen[name].name} and {path.name}")
            seen[name] = path
            cases.append(case)
    return GoldenDataset(name="golden", cases=cases)
