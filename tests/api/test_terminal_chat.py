"""`support chat` as a person runs it: a process with a terminal's worth of stdin and stdout, against a real
server process. It says one clear line when there is no server, and shows a reply that arrives later (the answer
after a support agent approves a held refund) without the customer typing anything."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from testkit.server import ROOT, ServerProcess, free_port
from testkit.service import TEST_SECRET, bearer

CUSTOMER = "james_li_5688"
WAIT_S = 30.0


class ChatProcess:
    """`support chat` with its output read line by line on a thread, so the test can wait for a line with a
    deadline instead of sleeping."""

    def __init__(self, url: str | None, **env: str) -> None:
        where = ["--url", url] if url else []  # without one, the chat finds the service from the environment
        self.process = subprocess.Popen(
            [sys.executable, "-m", "cli.main", "chat", "--customer", CUSTOMER, *where, "--poll-seconds", "0.2"],
            cwd=ROOT,
            env={**clean_environment(), "SUPPORT_JWT_SECRET": TEST_SECRET, "PYTHONUNBUFFERED": "1", **env},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)

    def say(self, text: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(text + "\n")
        self.process.stdin.flush()

    def wait_for(self, fragment: str) -> str:
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            self.seen.append(line)
            if fragment in line:
                return line
        raise AssertionError(f"{fragment!r} never came; the chat printed:\n{''.join(self.seen)}")

    def quit(self) -> int:
        assert self.process.stdin is not None
        self.process.stdin.close()
        return self.process.wait(timeout=WAIT_S)


def clean_environment() -> dict[str, str]:
    """This process's environment without the variables that say where a service is."""
    return {k: v for k, v in os.environ.items() if k not in ("SUPPORT_URL", "HOST", "PORT")}


@pytest.fixture
def server(sqlite_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
    process = ServerProcess(sqlite_url, tmp_path / "server.log")
    try:
        yield process.start()
    finally:
        process.stop()


def test_the_chat_finds_a_service_started_on_another_port_from_port_alone(server: ServerProcess) -> None:
    """`PORT=N support serve` then `PORT=N support chat`: no URL to repeat."""
    chat = ChatProcess(None, PORT=str(server.port))
    try:
        chat.wait_for("Empty line or Ctrl-D to quit")
        chat.say("Where is my order #W2611340?")
        assert "#W2611340" in chat.wait_for("support>")
    finally:
        assert chat.quit() == 0


def test_without_a_server_the_chat_says_so_in_one_line() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    finished = subprocess.run(
        [sys.executable, "-m", "cli.main", "chat", "--url", url],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        input="",
    )
    assert finished.returncode == 1
    assert finished.stderr.strip() == f"support chat: cannot reach the support service at {url}: is it running?"
    assert finished.stdout == ""


@pytest.mark.slow
def test_a_reply_that_comes_after_an_approval_is_shown_without_typing(server: ServerProcess) -> None:
    chat = ChatProcess(server.url)
    try:
        chat.wait_for("Empty line or Ctrl-D to quit")
        chat.say("Refund me $150 on #W2611340 please")
        chat.wait_for("support>")
        chat.wait_for("[awaiting_confirmation: type /confirm or /decline]")
        chat.say("/confirm")
        chat.wait_for("[awaiting_approval]")
        pending = httpx.get(f"{server.url}/v1/approvals?status=pending", headers=bearer("agent_alice", "agent"))
        [approval] = pending.json()
        decided = httpx.post(
            f"{server.url}/v1/approvals/{approval['id']}/approve",
            json={"note": "fine"},
            headers=bearer("agent_alice", "agent"),
            timeout=30,
        )
        assert decided.status_code == 200, decided.text
        late = decided.json()["run"]["reply"]
        shown = chat.wait_for("support>")  # nothing typed since "/confirm": the chat found it by itself
        assert late.splitlines()[0] in shown
    finally:
        assert chat.quit() == 0
