"""The service as it ships: a wheel built from the image's build context (what .dockerignore lets through, as
`docker build` sends it), installed into a fresh virtualenv in a temporary folder outside the checkout, and its
commands run from there. Nothing of the checkout is importable or readable from that folder, so a file the wheel
lacks, or a path built as if from a checkout, fails here as it would in the image.

One virtualenv serves the whole module: installed without extras first (where `support eval` must say how to get
the extra), then with `support-agent[evals]`.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml
from docker.utils.build import exclude_paths

from cli.eval.command import EXIT_USAGE
from cli.main import EVALS_EXTRA_MISSING, EXIT_EVAL_CANNOT_START

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


@dataclass
class Installed:
    venv: Path
    wheel: Path
    work: Path
    """The folder commands run in: outside the checkout, holding the SQLite file and reports."""
    eval_without_extra: subprocess.CompletedProcess[str]

    @property
    def env(self) -> dict[str, str]:
        """The machine's environment without the project's settings, with a database of its own."""
        kept = {k: v for k, v in os.environ.items() if not k.startswith(("SUPPORT_", "DATABASE_URL", "OTEL_"))}
        kept.pop("PYTHONPATH", None)
        return kept | {"DATABASE_URL": f"sqlite:///{self.work / 'store.sqlite3'}", "SUPPORT_LOG_FORMAT": "text"}

    def run(self, *command: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.venv / "bin" / command[0]), *command[1:]],
            cwd=self.work,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def build_context(target: Path) -> Path:
    """The files `docker build .` would send, by docker's own reading of .dockerignore."""
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for name in exclude_paths(str(ROOT), patterns):
        source = ROOT / name
        if source.is_file() and not source.is_symlink():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def pip(python: Path, *arguments: str) -> None:
    done = subprocess.run(
        [str(python), "-m", "pip", "--disable-pip-version-check", *arguments],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    base = tmp_path_factory.mktemp("installed")
    assert ROOT not in base.parents, "the install must live outside the checkout"
    context = build_context(base / "context")
    pip(Path(sys.executable), "wheel", "--quiet", "--no-deps", "--wheel-dir", str(base / "dist"), str(context))
    [wheel] = (base / "dist").glob("*.whl")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    pip(venv / "bin" / "python", "install", "--quiet", "-c", str(ROOT / "requirements.lock"), str(wheel))
    work = base / "work"
    work.mkdir()
    found = Installed(venv=venv, wheel=wheel, work=work, eval_without_extra=subprocess.CompletedProcess([], 0))
    found.eval_without_extra = found.run("support", "eval", "--model", "offline", "--tasks", "golden")
    return found


@pytest.fixture(scope="module")
def with_evals(installed: Installed) -> Installed:
    python = installed.venv / "bin" / "python"
    pip(python, "install", "--quiet", "-c", str(ROOT / "requirements.lock"), f"{installed.wheel}[evals]")
    return installed


@pytest.fixture(scope="module")
def seeded(installed: Installed) -> subprocess.CompletedProcess[str]:
    return installed.run("support", "seed")


def test_the_commands_run_the_installed_copy_not_the_checkout(installed: Installed) -> None:
    code = "import api, tools, evals; print(api.__file__, tools.__file__, evals.__file__)"
    done = installed.run("python", "-c", code)
    assert done.returncode == 0, done.stderr
    site_packages = installed.venv / "lib"
    for module_file in done.stdout.split():
        assert Path(module_file).is_relative_to(site_packages), module_file


def test_the_wheel_carries_every_file_of_the_data_folders(installed: Installed) -> None:
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    for source, packaged in (
        ("fixtures/help_centre", "tools/knowledge/help_centre"),
        ("fixtures/evals", "evals/golden"),
    ):
        for file in (ROOT / source).iterdir():
            assert f"{packaged}/{file.name}" in names, f"{source}/{file.name} is not in the wheel"
    for needed in (
        "tools/store/seed/db.json",
        "evals/data/tasks_train.json",
        "cli/eval/command.py",
        "evals/templates/report.html",
        "cli/eval/templates/compare.html",
        "agent/limits/prices.toml",
        "agent/routing/prompts/released.toml",
        "agent/routing/prompts/v1/system.md",
        "agent/routing/prompts/v1/tools.toml",
        "policies/retail.toml",
        "api/migrations/env.py",
        "api/desk/templates/base.html",
        "api/desk/templates/insights.html",
    ):
        assert needed in names, needed


def test_the_installed_service_finds_its_prompt_versions_with_their_released_ids(installed: Installed) -> None:
    from agent.routing.prompt_versions import load_all, packaged_directory
    from tools import registry

    done = installed.run("support", "prompts")
    assert done.returncode == 0, done.stderr
    listed = {line.split()[0]: line.split()[1] for line in done.stdout.splitlines()}
    # The checkout's versions, with the same ids: the wheel ships the same bytes, found through the package.
    assert listed == {name: version.id for name, version in load_all(packaged_directory(), registry).items()}
    assert "live" in done.stdout and ", released" in done.stdout


def test_without_the_extra_support_eval_says_how_to_get_it_in_one_line(installed: Installed) -> None:
    done = installed.eval_without_extra
    assert done.returncode == EXIT_EVAL_CANNOT_START == EXIT_USAGE
    assert done.stderr.strip() == EVALS_EXTRA_MISSING
    assert "Traceback" not in done.stderr


def test_support_seed_loads_the_store_and_every_help_centre_article(
    installed: Installed, seeded: subprocess.CompletedProcess[str]
) -> None:
    assert seeded.returncode == 0, seeded.stderr[-3000:]
    assert seeded.stdout.strip().endswith("store ready")
    with sqlite3.connect(installed.work / "store.sqlite3") as connection:
        articles = connection.execute("SELECT count(*) FROM kb_articles").fetchone()[0]
        orders = connection.execute("SELECT count(*) FROM orders").fetchone()[0]
    assert articles == len(list((ROOT / "fixtures" / "help_centre").glob("*.md")))
    assert orders == len(json.loads((ROOT / "fixtures" / "db.json").read_text())["orders"])


def test_support_kb_eval_measures_search_on_the_packaged_questions(
    installed: Installed, seeded: subprocess.CompletedProcess[str]
) -> None:
    done = installed.run("support", "kb", "eval")
    assert done.returncode == 0, done.stderr[-3000:]
    questions = yaml.safe_load((ROOT / "fixtures" / "help_centre" / "questions.yaml").read_text())
    assert done.stdout.startswith(f"{len(questions)} questions;")
    keyword = next(line for line in done.stdout.splitlines() if line.startswith("keyword"))
    recall_at_5 = float(keyword.split()[2])
    assert recall_at_5 > 0.5, done.stdout


def test_support_eval_plays_every_packaged_golden_case(with_evals: Installed) -> None:
    out = with_evals.work / "golden-report"
    done = with_evals.run("support", "eval", "--model", "offline", "--tasks", "golden", "--out", str(out))
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    cases = sum(
        len(yaml.safe_load(path.read_text())["cases"])
        for path in (ROOT / "fixtures" / "evals").glob("*.yaml")
        if not path.name.endswith("_schema.yaml")
    )
    assert report["totals"]["tasks"] == cases
    assert report["totals"]["trials_in_error"] == 0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def served(installed: Installed, seeded: subprocess.CompletedProcess[str]) -> Iterator[str]:
    port = free_port()
    log = (installed.work / "serve.log").open("w")
    server = subprocess.Popen(
        [str(installed.venv / "bin" / "support"), "serve", "--port", str(port)],
        cwd=installed.work,
        env=installed.env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert server.poll() is None, (installed.work / "serve.log").read_text()[-3000:]
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        else:
            pytest.fail("the installed service did not become ready in 120 s")
        yield url
    finally:
        server.terminate()
        server.wait(timeout=60)
        log.close()


def test_the_installed_service_answers_a_chat_turn(installed: Installed, served: str) -> None:
    minted = installed.run("support", "token", "james_li_5688")
    assert minted.returncode == 0, minted.stderr
    headers = {"Authorization": f"Bearer {minted.stdout.strip()}"}
    with httpx.Client(base_url=served, headers=headers, timeout=60) as client:
        conversation = client.post("/v1/conversations").json()["id"]
        turn = client.post(
            f"/v1/conversations/{conversation}/messages", json={"content": "Where is my order #W2611340?"}
        )
        assert turn.status_code == 200, turn.text
        assert turn.json()["run"]["status"] == "completed"
        assert "#W2611340" in turn.json()["run"]["reply"]
        question = client.post(
            f"/v1/conversations/{conversation}/messages", json={"content": "How long does a refund take?"}
        )
        assert question.status_code == 200, question.text
        steps = client.get(f"/v1/conversations/{conversation}").json()
    assert question.json()["run"]["status"] == "completed"
    assert "refund" in question.json()["run"]["reply"].lower()
    assert steps["messages"][-1]["role"] == "assistant"
