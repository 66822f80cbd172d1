"""A desk session is one thing on every replica: signing out on one server process ends it on the others, on both
databases."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from api.desk.session import mint_link_token
from testkit.desk import CSRF_FIELD, set_cookies
from testkit.server import ServerProcess
from testkit.service import TEST_SECRET

pytestmark = pytest.mark.slow


def test_a_sign_out_on_one_process_ends_the_session_on_another(
    database_url: str, tmp_path: Path, servers: list[ServerProcess]
) -> None:
    servers.extend(ServerProcess(database_url, tmp_path / f"server-{n}.log").start() for n in (1, 2))
    first, second = (httpx.Client(base_url=s.url, timeout=30) for s in servers)
    link = first.get("/desk/sign-in/link", params={"token": mint_link_token(TEST_SECRET, "agent_alice", "agent")})
    assert link.status_code == 303, link.text
    cookie = {"Cookie": f"desk_session={set_cookies(link)['desk_session'].value}"}
    for server in (first, second):
        queue = server.get("/desk", headers=cookie)
        assert queue.status_code == 200 and "agent_alice" in queue.text
    csrf = CSRF_FIELD.search(queue.text)
    assert csrf is not None

    out = second.post("/desk/sign-out", data={"csrf": csrf.group(1)}, headers=cookie)
    assert out.status_code == 303

    for server in (first, second):
        refused = server.get("/desk", headers=cookie)
        assert refused.status_code == 303 and refused.headers["location"] == "/desk/sign-in"
        form = {"note": "no", "csrf": csrf.group(1)}
        posted = server.post("/desk/approvals/appr_x/reject", data=form, headers=cookie)
        assert posted.status_code == 303 and posted.headers["location"] == "/desk/sign-in"
