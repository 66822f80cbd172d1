"""The image and compose.yaml, checked as far as this machine allows (it has no Docker engine): the Dockerfile
through hadolint, compose.yaml against the Compose Specification's JSON schema (as check-jsonschema ships it)
and the operational promises it makes, and the image's hashed lock against the project's lock."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from api.cli import DRAIN_S

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    found = shutil.which(name, path=str(BIN)) or shutil.which(name)
    assert found, f"{name} is a dev dependency; `./dev true` installs it"
    return found


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = YAML(typ="safe").load((ROOT / "compose.yaml").read_text())
    return loaded


def test_the_dockerfile_passes_hadolint() -> None:
    linted = run(tool("hadolint"), "--no-color", "Dockerfile")
    assert linted.returncode == 0, linted.stdout + linted.stderr


def test_hadolint_does_flag_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install fastapi\n")
    linted = run(tool("hadolint"), "--no-color", str(bad))
    assert linted.returncode != 0 and "DL3007" in linted.stdout  # the check can fail


def test_the_dockerfile_is_multi_stage_pinned_and_installs_from_hashes() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"ARG PYTHON_BASE=python:[\w.-]+@sha256:[0-9a-f]{64}\n", text)
    assert len(re.findall(r"^FROM \$\{PYTHON_BASE\} AS \w+$", text, re.M)) == 2
    lock_install = text.index("--require-hashes -r docker/requirements.txt")
    assert lock_install < text.index("COPY agent agent")  # dependencies in a layer of their own, before the code
    assert " -e " not in text and "--editable" not in text
    assert re.search(r"^USER \d+:\d+$", text, re.M)


def test_compose_matches_the_compose_specification_schema() -> None:
    checked = run(tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", "compose.yaml")
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_schema_check_does_reject_a_broken_compose_file(tmp_path: Path) -> None:
    broken = tmp_path / "compose.yaml"
    broken.write_text("services:\n  support:\n    image: x\n    restart_policy: always\n")
    checked = run(tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(broken))
    assert checked.returncode != 0


def seconds(duration: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    return sum(float(n) * units[u] for n, u in re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", duration))


def test_compose_keeps_the_operational_promises() -> None:
    services = compose()["services"]
    support, migrate = services["support"], services["migrate"]
    secret = support["environment"]["SUPPORT_JWT_SECRET"]
    assert re.fullmatch(r"\$\{SUPPORT_JWT_SECRET:\?[^}]+\}", secret), "no default secret: compose must refuse"
    assert support["environment"]["SUPPORT_ENV"] == "production"
    assert seconds(support["stop_grace_period"]) > DRAIN_S
    assert support["restart"] in ("always", "unless-stopped", "on-failure")
    assert int(support["environment"]["SUPPORT_WORKERS"]) > 1
    assert migrate["command"] == ["support", "migrate"]
    assert support["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_the_image_lock_is_in_step_with_the_project_lock() -> None:
    def pins(path: Path) -> dict[str, str]:
        found = re.findall(r"^([A-Za-z0-9._-]+)==([^\s\\]+)", path.read_text(), re.M)
        return {re.sub(r"[-_.]+", "-", name).lower(): version for name, version in found}

    image, project = pins(ROOT / "docker" / "requirements.txt"), pins(ROOT / "requirements.lock")
    assert image, "docker/requirements.txt is empty"
    assert {name: version for name, version in image.items() if project.get(name) != version} == {}
    hashes = re.findall(r"--hash=sha256:[0-9a-f]{64}", (ROOT / "docker" / "requirements.txt").read_text())
    assert len(hashes) >= len(image)
    for needed in ("fastapi", "anthropic", "psycopg-binary", "cryptography", "prometheus-client", "python-json-logger"):
        assert needed in image, f"{needed} is missing from docker/requirements.txt: run ./dev python docker/lock.py"


@pytest.mark.slow
def test_the_wheel_carries_the_seed_store_and_everything_the_service_reads(tmp_path: Path) -> None:
    built = run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(tmp_path), ".")
    assert built.returncode == 0, built.stderr
    [wheel] = tmp_path.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in (
        "tools/store/seed/db.json",
        "tools/store/seed/LICENSE.tau2-bench",
        "agent/prices.toml",
        "policies/retail.toml",
        "api/migrations/env.py",
        "api/migrations/versions/0001_baseline_schema.py",
    ):
        assert needed in names, needed
