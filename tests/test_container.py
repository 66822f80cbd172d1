"""The image and compose.yaml, checked as far as this machine allows (it has no Docker engine): the Dockerfile
through hadolint, compose.yaml against the Compose Specification's JSON schema (as check-jsonschema ships it)
and the operational promises it makes, and the image's hashed lock against the project's lock."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from cli.main import DRAIN_S

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
    assert re.findall(r"^FROM (\S+) AS (\w+)$", text, re.M) == [
        ("${PYTHON_BASE}", "deps"),
        ("deps", "build"),
        ("${PYTHON_BASE}", "runtime"),
    ]
    lock_install = text.index("--require-hashes -r docker/requirements.txt")
    assert lock_install < text.index("COPY . .")  # dependencies in a layer of their own, before the code
    assert " -e " not in text and "--editable" not in text
    assert re.search(r"^USER \d+:\d+$", text, re.M)


def test_the_runtime_image_ships_dependencies_and_project_as_two_layers() -> None:
    """The dependencies change with the lock, the project with the code: a code change ships only the second."""
    text = (ROOT / "Dockerfile").read_text()
    runtime = text[text.index("AS runtime") :]
    assert re.findall(r"^COPY .*$", runtime, re.M) == [
        "COPY --from=deps /opt/support /opt/support",
        "COPY --from=build /opt/project /opt/support",
    ]
    build = text[text.index("AS build") : text.index("AS runtime")]
    assert "COPY . ." in build, "the wheel is built from the whole context, so no package can be left out"
    assert "--prefix /opt/project" in build


def test_the_image_listens_where_host_and_port_say() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^CMD \[\"support\", \"serve\"\]$", text, re.M), "no --host/--port: HOST and PORT decide"
    assert re.search(r"^ +SUPPORT_ENV=production HOST=0\.0\.0\.0 PORT=8000$", text, re.M)
    assert 'CMD ["python", "-m", "api.ops.healthcheck"]' in text
    assert 'VOLUME ["/app/var"]' in text


def test_each_extra_the_image_can_take_has_its_own_lock() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert 'ARG EXTRAS=""' in text and "docker/requirements-$extra.txt" in text
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert "evals" in extras
    assert (ROOT / "docker" / "requirements-evals.txt").is_file()


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


def test_compose_builds_the_image_once_and_keeps_the_services_state_in_a_volume() -> None:
    spec = compose()
    services = spec["services"]
    built = [name for name, service in services.items() if "build" in service]
    assert built == ["migrate"]
    assert {services[name]["image"] for name in ("migrate", "support")} == {"support-agent:local"}
    volume, target = services["support"]["volumes"][0].split(":")[:2]
    assert target == "/app/var" and volume in spec["volumes"]


def pins(path: Path) -> dict[str, str]:
    found = re.findall(r"^([A-Za-z0-9._-]+)==([^\s\\]+)", path.read_text(), re.M)
    return {re.sub(r"[-_.]+", "-", name).lower(): version for name, version in found}


def hashes(path: Path) -> dict[str, int]:
    """Requirement -> how many wheel hashes it lists."""
    blocks = re.split(r"\n(?=[A-Za-z0-9])", path.read_text())
    return {block.split("==")[0]: block.count("--hash=sha256:") for block in blocks if "==" in block}


def test_the_image_locks_are_in_step_with_the_project_lock() -> None:
    project = pins(ROOT / "requirements.lock")
    runtime, evals = pins(ROOT / "docker" / "requirements.txt"), pins(ROOT / "docker" / "requirements-evals.txt")
    assert runtime and evals, "run ./dev python docker/lock.py"
    for image in (runtime, evals):
        assert {name: version for name, version in image.items() if project.get(name) != version} == {}
    assert set(runtime).isdisjoint(evals), "an extra's lock holds only what it adds"
    for needed in ("fastapi", "anthropic", "psycopg-binary", "cryptography", "prometheus-client", "python-json-logger"):
        assert needed in runtime, f"{needed} is missing from docker/requirements.txt: run ./dev python docker/lock.py"
    assert "pydantic-evals" in evals and "pydantic-evals" not in runtime, "evals' dependencies ship only with the extra"


def test_the_locks_carry_a_hash_for_each_architecture() -> None:
    for lock in ("requirements.txt", "requirements-evals.txt", "build-requirements.txt"):
        counted = hashes(ROOT / "docker" / lock)
        assert counted and min(counted.values()) >= 1, lock
    runtime = hashes(ROOT / "docker" / "requirements.txt")
    for compiled in ("pydantic-core", "uvloop", "psycopg-binary", "cryptography"):  # x86_64 and aarch64 wheels
        assert runtime[compiled] == 2, compiled
