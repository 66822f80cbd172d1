"""Where the files a command reads at run time are found: inside the installed package, or in the checkout.

The wheel carries everything a command reads (the store's seed data, the help centre's articles and labelled
questions, the golden conversations, the tau2 tasks): `pyproject.toml` maps each folder of `fixtures/` into a
package, and the code finds it there through `importlib.resources`, so an installed service needs no source tree.

Running from a checkout (the editable install `./dev` makes), the team edits those files in `fixtures/`, so the
checkout's copy overrides the packaged one; a checkout is recognised by the `pyproject.toml` beside the top-level
packages, never merely by a `fixtures` folder (site-packages can hold another distribution's `fixtures/`).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[1]
"""The folder holding the top-level packages: a checkout's root, or site-packages when installed."""


def running_from_checkout() -> bool:
    return (CHECKOUT / "pyproject.toml").is_file() and (CHECKOUT / "fixtures").is_dir()


@dataclass(frozen=True, slots=True)
class DataFile:
    """A file or folder a command reads: where the wheel carries it and where a checkout keeps it."""

    package: str
    """The package that carries it in the wheel, e.g. `tools.knowledge`."""
    packaged: str
    """Its path inside that package, e.g. `help_centre` (as `pyproject.toml`'s force-include puts it)."""
    checkout: str
    """Its path in a checkout, from the root, e.g. `fixtures/help_centre`."""

    def path(self) -> Path:
        """The checkout's copy when running from a checkout that has it, else the package's. A copy missing from
        both is returned as the package's path, so the reader's error names where an installed one should be."""
        if running_from_checkout() and (CHECKOUT / self.checkout).exists():
            return CHECKOUT / self.checkout
        return self.packaged_path()

    def packaged_path(self) -> Path:
        resource = files(self.package).joinpath(*self.packaged.split("/"))
        if not isinstance(resource, Path):
            # pip unpacks wheels into folders; a zip import (zipapp, an egg) would need its files copied out first
            raise RuntimeError(f"{self.package} is imported from an archive; install the support-agent wheel with pip")
        return resource
