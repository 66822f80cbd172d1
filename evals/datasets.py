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
    return load_cases([directory])


def case_files(paths: list[Path]) -> list[Path]:
    """The dataset files `paths` name: a YAML file as it is, a folder as its datasets (`dataset_files`)."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += dataset_files(path)
        elif path.is_file():
            files.append(path)
        else:
            raise ValueError(f"no case file or folder at {path}")
    return files


def load_cases(paths: list[Path]) -> GoldenDataset:
    """The cases of these files and folders in one dataset (names unique across them; a clash is an error)."""
    cases: list[GoldenCase] = []
    seen: dict[str, Path] = {}
    for path in case_files(paths):
        for case in load_dataset(path).cases:
            name = case.name or ""
            if name in seen:
                raise ValueError(f"case {name!r} is in both {seen[name].name} and {path.name}")
            seen[name] = path
            cases.append(case)
    return GoldenDataset(name="golden", cases=cases)
