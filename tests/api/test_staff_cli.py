"""`support approvals ...`, `support handoffs ...` and `support desk-link`, run as commands against the service
running as a real process (uvicorn), the way an operator without a browser would use them."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from testkit.confirm import confirm_over_http
from testkit.server import ROOT, ServerProcess
from testkit.server import support_against as support
from testkit.service import TEST_SECRET, bearer

JAMES = "james_li_5688"


@pytest.fixture
def server(sqlite_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
    process = ServerProcess(sqlite_url, tmp_path / "server.log").start()
    try:
        yield process
    finally:
        process.stop()


def customer_says(server: ServerProcess, conversation: str | None, text: str) -> tuple[str, dict[str, object]]:
    with httpx.Client(base_url=server.url, headers=bearer(JAMES), timeout=60) as http:
        if conversation is None:
            conversation = str(http.post("/v1/conversations").json()["id"])
        answer = http.post(f"/v1/conversations/{conversation}/messages", json={"content": text})
        assert answer.status_code == 200, answer.text
        run: dict[str, object] = answer.json()["run"]
        return conversation, run


def test_approvals_from_the_command_line(server: ServerProcess) -> None:
    conversation, asked = customer_says(server, None, "Order #W2611340 arrived damaged, please refund $150")
    run = confirm_over_http(server.url, JAMES, conversation, asked)  # type: ignore[arg-type]
    assert run["status"] == "awaiting_approval"
    approval_id = run["pending_action"]["approval_id"]  # type: ignore[index]

    listed = support(server, "approvals", "list", "--mine")
    assert listed.returncode == 0, listed.stderr
    assert approval_id in listed.stdout and "$   150.00" in listed.stdout and "agent" in listed.stdout

    shown = support(server, "approvals", "show", approval_id)
    assert shown.returncode == 0 and '"order_id": "#W2611340"' in shown.stdout and '"refund_window"' in shown.stdout

    no_note = support(server, "approvals", "reject", approval_id)
    assert no_note.returncode == 2 and "--note" in no_note.stderr
    too_much = support(server, "approvals", "approve", approval_id, "--amount", "900")
    assert too_much.returncode == 1 and "error 422 amendment_rejected: amount:" in too_much.stderr

    approved = support(server, "approvals", "approve", approval_id, "--amount", "120", "--note", "partial")
    assert approved.returncode == 0, approved.stderr
    assert f"{approval_id} executed" in approved.stdout and "reply to the customer:" in approved.stdout
    again = support(server, "approvals", "reject", approval_id, "--note", "too late")
    assert again.returncode == 1 and "error 409 approval_not_pending" in again.stderr


def test_handoffs_from_the_command_line(server: ServerProcess) -> None:
    conversation, run = customer_says(server, None, "Can I talk to a human please?")
    assert run["status"] == "handed_off"
    listed = support(server, "handoffs", "list")
    assert listed.returncode == 0 and "queued" in listed.stdout and JAMES in listed.stdout
    handoff_id = listed.stdout.split()[0]

    early = support(server, "handoffs", "reply", handoff_id, "hello")
    assert early.returncode == 1 and "error 409 handoff_conflict" in early.stderr
    assert support(server, "handoffs", "claim", handoff_id, "--as", "agent_alice").returncode == 0
    other = support(server, "handoffs", "reply", handoff_id, "hello", "--as", "agent_bob")
    assert other.returncode == 1 and "error 403 not_handoff_owner" in other.stderr
    sent = support(server, "handoffs", "reply", handoff_id, "Hello from Alice", "--as", "agent_alice")
    assert sent.returncode == 0, sent.stderr
    closed = support(server, "handoffs", "close", handoff_id, "--outcome", "resolved", "--as", "agent_alice")
    assert closed.returncode == 0 and "closed (resolved)" in closed.stdout

    with httpx.Client(base_url=server.url, headers=bearer(JAMES), timeout=60) as http:
        messages = http.get(f"/v1/conversations/{conversation}").json()["messages"]
    assert (messages[-1]["role"], messages[-1]["author_id"], messages[-1]["content"]) == (
        "agent",
        "agent_alice",
        "Hello from Alice",
    )


def test_desk_link_prints_a_one_time_link(server: ServerProcess) -> None:
    printed = support(server, "desk-link", "supervisor_sam", "--role", "supervisor")
    assert printed.returncode == 0, printed.stderr
    link = printed.stdout.strip()
    assert link.startswith(f"{server.url}/desk/sign-in/link?token=")
    first = httpx.get(link, follow_redirects=False, timeout=30)
    assert first.status_code == 303 and "desk_session=" in first.headers["set-cookie"]
    assert httpx.get(link, follow_redirects=False, timeout=30).status_code == 401


def test_an_unreachable_service_is_a_clear_message(tmp_path: Path) -> None:
    env = {**os.environ, "SUPPORT_JWT_SECRET": TEST_SECRET}
    result = subprocess.run(
        [sys.executable, "-m", "cli.main", "approvals", "list", "--url", "http://127.0.0.1:9"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1 and "cannot reach the service" in result.stderr
