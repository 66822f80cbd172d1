"""Signing in to the desk from a test, as a browser would: the sign-in form with its own CSRF cookie, then
the session cookie. Cookies are carried by hand because the session cookie is Secure and tests speak HTTP."""

from __future__ import annotations

import re
from dataclasses import dataclass
from http.cookies import SimpleCookie

import httpx

from testkit.service import bearer

CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')


def set_cookies(response: httpx.Response) -> SimpleCookie:
    jar: SimpleCookie = SimpleCookie()
    for header in response.headers.get_list("set-cookie"):
        jar.load(header)
    return jar


@dataclass
class DeskUser:
    cookie: str
    csrf: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Cookie": f"desk_session={self.cookie}"}


async def sign_in_form(http: httpx.AsyncClient) -> tuple[str, str]:
    """The sign-in page's CSRF value (in the form) and cookie."""
    page = await http.get("/desk/sign-in")
    assert page.status_code == 200, page.text
    field = CSRF_FIELD.search(page.text)
    assert field is not None
    return field.group(1), set_cookies(page)["desk_sign_in"].value


async def sign_in(http: httpx.AsyncClient, subject: str, role: str) -> DeskUser:
    form_key, cookie = await sign_in_form(http)
    token = bearer(subject, role=role)["Authorization"].removeprefix("Bearer ")
    signed = await http.post(
        "/desk/sign-in", data={"token": token, "csrf": form_key}, headers={"Cookie": f"desk_sign_in={cookie}"}
    )
    assert signed.status_code == 303, signed.text
    session = set_cookies(signed)["desk_session"].value
    queue = await http.get("/desk", headers={"Cookie": f"desk_session={session}"})
    assert queue.status_code == 200, queue.text
    csrf = CSRF_FIELD.search(queue.text)
    assert csrf is not None
    return DeskUser(session, csrf.group(1))
