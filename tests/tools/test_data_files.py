"""Where commands find their data: the checkout's `fixtures/` when running from a checkout, else the copy the
wheel carries inside the package; and every such copy is one the wheel really packs (pyproject.toml).
`tests/test_installed_package.py` runs the commands from an installed wheel."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from evals.cases import GOLDEN
from evals.tau2 import TAU2_TASKS
from tools import data_files
from tools.data_files import DataFile
from tools.knowledge.importer import HELP_CENTRE
from tools.store.loader import STORE_DATA

ROOT = Path(__file__).resolve().parents[2]
EVERY_DATA_FILE = [STORE_DATA, HELP_CENTRE, GOLDEN, TAU2_TASKS]


def test_from_a_checkout_the_checkouts_copies_are_read() -> None:
    assert data_files.running_from_checkout()
    assert HELP_CENTRE.path() == ROOT / "fixtures" / "help_centre"
    assert GOLDEN.path() == ROOT / "fixtures" / "evals"
    assert STORE_DATA.path() == ROOT / "fixtures" / "db.json"


@pytest.mark.parametrize("data", EVERY_DATA_FILE, ids=lambda d: d.checkout)
def test_the_wheel_packs_each_data_file_where_the_code_looks_for_it(data: DataFile) -> None:
    force_include = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"]["targets"]["wheel"][
        "force-include"
    ]
    assert force_include.get(data.checkout) == f"{data.package.replace('.', '/')}/{data.packaged}"
    assert (ROOT / data.checkout).exists()


def test_installed_the_packaged_copy_is_read_even_beside_a_stray_fixtures_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site_packages = tmp_path / "site-packages"
    (site_packages / "fixtures" / "help_centre").mkdir(parents=True)  # another distribution's `fixtures/`
    monkeypatch.setattr(data_files, "CHECKOUT", site_packages)
    assert not data_files.running_from_checkout()
    assert HELP_CENTRE.path() == HELP_CENTRE.packaged_path()
    assert HELP_CENTRE.packaged_path() == ROOT / "tools" / "knowledge" / "help_centre"  # inside the package


def test_a_checkout_without_a_copy_falls_back_to_the_package() -> None:
    missing = DataFile("tools.knowledge", "help_centre", "fixtures/no-such-folder")
    assert missing.path() == ROOT / "tools" / "knowledge" / "help_centre"
