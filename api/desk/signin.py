"""Signing in and out of the desk: a staff JWT (pasted, sent by a single-sign-on proxy, or carried by a one-time
link) is exchanged once for the session cookie."""

from __future__ import annotations

import hmac
import secrets
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.desk.render import render
from api.desk.session import (
    SESSION_COOKIE,
    DeskSession,
    check_csrf,
    open_session,
    read_session,
    redeem_link,
    staff_from_token,
)
from api.services import services_of
from tools.context import Principal

router = APIRouter(prefix="/desk", include_in_schema=False)
SIGN_IN_CSRF_COOKIE = "desk_sign_in"
"""Before a session exists, the sign-in form is protected by a random value in a cookie and in the form."""


def secret_of(request: Request) -> str:
    return services_of(request).settings.jwt_secret.get_secret_value()


async def desk_session(request: Request) -> DeskSession:
    return read_session(secret_of(request), request.cookies.get(SESSION_COOKIE))


Desk = Annotated[DeskSession, Depends(desk_session)]


async def checked_form(request: Request, session: Desk) -> dict[str, str]:
    """The posted form, after its CSRF token was checked against the session."""
    form = await request.form()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    check_csrf(session, fields.get("csrf"))
    return fields


DeskForm = Annotated[dict[str, str], Depends(checked_form)]


def signed_in(request: Request, principal: Principal, to: str = "/desk") -> Response:
    settings = services_of(request).settings
    ttl = timedelta(minutes=settings.desk_session_minutes)
    cookie, _ = open_session(secret_of(request), principal, ttl)
    response = RedirectResponse(to, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        max_age=int(ttl.total_seconds()),
        path="/desk",
        httponly=True,
        samesite="strict",
        secure=settings.desk_cookie_secure,
    )
    response.delete_cookie(SIGN_IN_CSRF_COOKIE, path="/desk")
    return response


@router.get("/sign-in", response_model=None)
async def sign_in_page(request: Request) -> Response:
    """The sign-in form; or, when a single-sign-on proxy in front sends the staff JWT as a bearer header, the
    session at once."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return signed_in(request, await staff_from_token(services_of(request).verifier, token))
    form_key = secrets.token_urlsafe(24)
    page: HTMLResponse = render(request, "sign_in.html", {"form_key": form_key})
    page.set_cookie(
        SIGN_IN_CSRF_COOKIE,
        form_key,
        path="/desk",
        httponly=True,
        samesite="strict",
        secure=services_of(request).settings.desk_cookie_secure,
    )
    return page


@router.post("/sign-in", response_model=None)
async def sign_in(request: Request, token: Annotated[str, Form()], csrf: Annotated[str, Form()] = "") -> Response:
    expected = request.cookies.get(SIGN_IN_CSRF_COOKIE)
    if not expected or not hmac.compare_digest(csrf, expected):
        return render(request, "sign_in.html", {"error": "The form expired; please try again."}, status_code=403)
    return signed_in(request, await staff_from_token(services_of(request).verifier, token))


@router.get("/sign-in/link", response_model=None)
async def sign_in_by_link(request: Request, token: str) -> Response:
    """A one-time link from `support desk-link`."""
    principal = await redeem_link(services_of(request).database, secret_of(request), token)
    return signed_in(request, principal)


@router.post("/sign-out", response_model=None)
async def sign_out(_: DeskForm) -> Response:
    response = RedirectResponse("/desk/sign-in", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/desk")
    return response
