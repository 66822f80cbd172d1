"""`./dev help` prints the usage, not the script's first lines of code."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_dev_help_prints_the_usage_and_nothing_else() -> None:
    shown = subprocess.run([str(ROOT / "dev"), "help"], capture_output=True, text=True, timeout=30, check=True).stdout
    lines = shown.splitlines()
    assert lines[0].startswith("One entry point")
    assert any(line.strip().startswith("./dev serve") for line in lines)
    assert any("--port" in line for line in lines)
    assert not any(line.startswith(("set ", "#!", "cd ")) for line in lines)
