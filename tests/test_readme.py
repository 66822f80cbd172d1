"""The README's "Try it" block, run exactly as written, in a copy of the tree with no `.venv`, as a new user
would paste it: `./dev serve &` and `./dev support token` then install the environment at the same moment.

It runs in a network namespace of its own, so port 8000 there is free whatever runs on this machine; the
namespace has no route out, so the fresh `.venv` installs from a wheelhouse downloaded beforehand (pip is
pointed at it through its environment variables, which the README's commands pass on untouched)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow

NO_NAMESPACE = subprocess.run(["unshare", "-n", "true"], capture_output=True, check=False).returncode != 0


def try_it_block() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Try it") :]
    match = re.search(r"```sh\n(.*?)```", section, re.S)
    assert match, "the Try it section has no sh block"
    return match.group(1)


def copy_of_the_tree(target: Path) -> Path:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def wheelhouse(tree: Path, target: Path) -> Path:
    """Everything `./dev` installs, downloaded while there is a network."""
    wanted = [f"{tree}[dev]", "pip", "hatchling", "editables"]  # the project, pip's upgrade, the build backend
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "-d",
            str(target),
            "-c",
            str(tree / "requirements.lock"),
            *wanted,
        ],
        check=True,
        timeout=900,
    )
    return target


@pytest.mark.skipif(NO_NAMESPACE, reason="needs `unshare -n` (a private network namespace)")
def test_the_try_it_block_works_as_written(tmp_path: Path) -> None:
    tree = copy_of_the_tree(tmp_path / "tree")
    assert not (tree / ".venv").exists()
    wheels = wheelhouse(tree, tmp_path / "wheels")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SUPPORT_", "DATABASE_URL", "OTEL_", "PIP_"))},
        "PIP_NO_INDEX": "1",
        "PIP_FIND_LINKS": str(wheels),
        "PIP_CONFIG_FILE": os.devnull,
    }
    script = "ip link set lo up\nset -e\n" + try_it_block()
    finished = subprocess.run(
        ["unshare", "-n", "bash", "-c", script],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    log = (tree / "serve.log").read_text() if (tree / "serve.log").exists() else "(no serve.log)"
    assert finished.returncode == 0, f"{finished.stdout}\n{finished.stderr}\n{log}"
    answer = json.loads(finished.stdout.strip().splitlines()[-1])
    assert answer["run"]["status"] == "completed", answer
    assert "#W2611340" in answer["run"]["reply"]
    assert "ModuleNotFoundError" not in finished.stderr + log
