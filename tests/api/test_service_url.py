"""Where the command-line clients look for the service: `SUPPORT_URL`, else where `support serve` listens."""

from __future__ import annotations

import subprocess
import sys

import pytest

from api.service_url import BadServiceAddress, service_url
from cli.main import main
from testkit.server import ROOT


@pytest.mark.parametrize(
    ("environ", "url"),
    [
        ({}, "http://127.0.0.1:8000"),
        ({"PORT": "8080"}, "http://127.0.0.1:8080"),
        ({"HOST": "10.0.0.5", "PORT": "9000"}, "http://10.0.0.5:9000"),
        ({"HOST": "0.0.0.0", "PORT": "9000"}, "http://127.0.0.1:9000"),
        ({"HOST": "::", "PORT": "9000"}, "http://[::1]:9000"),
        ({"HOST": "::1"}, "http://[::1]:8000"),
        ({"SUPPORT_URL": "https://support.example.com/", "PORT": "9000"}, "https://support.example.com"),
        ({"PORT": " "}, "http://127.0.0.1:8000"),
    ],
)
def test_the_url_comes_from_support_url_else_from_host_and_port(environ: dict[str, str], url: str) -> None:
    assert service_url(environ) == url


@pytest.mark.parametrize(
    ("environ", "said"),
    [
        ({"PORT": "eighty"}, "PORT='eighty' is not a port number"),
        ({"PORT": "70000"}, "PORT='70000' is not a port number"),
        ({"PORT": "٨٠٨٠"}, "is not a port number"),
        ({"SUPPORT_URL": "support.example.com"}, "is not an http(s) URL"),
    ],
)
def test_an_address_that_cannot_be_one_is_refused_with_its_name(environ: dict[str, str], said: str) -> None:
    with pytest.raises(BadServiceAddress, match=said.replace("(", r"\(").replace(")", r"\)")):
        service_url(environ)


def test_serve_listens_where_the_clients_look(monkeypatch: pytest.MonkeyPatch) -> None:
    """`serve`'s defaults and the clients' default come from the same variables."""
    monkeypatch.setenv("PORT", "8765")
    monkeypatch.setenv("HOST", "127.0.0.2")
    seen: dict[str, object] = {}
    monkeypatch.setattr("cli.main.serve", lambda args: seen.update(host=args.host, port=args.port))
    main(["serve"])
    assert f"http://{seen['host']}:{seen['port']}" == service_url()


def test_a_staff_command_says_which_variable_is_wrong() -> None:
    finished = subprocess.run(
        [sys.executable, "-m", "cli.main", "desk-link", "alice"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "PORT": "eighty", "SUPPORT_JWT_SECRET": "x" * 40},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert finished.returncode == 1
    assert finished.stderr.strip().endswith("support desk-link: PORT='eighty' is not a port number")
