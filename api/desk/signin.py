"""Signing in and out of the desk: a staff JWT (pasted, sent by a single-sign-on proxy, or carried by a one-time
link) is exchanged once for the session cookie."""

from __future__ import annotations

import hmac
import secrets
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.deps import AppServices
from api.desk.render import render
from api.desk.session import (
    SESSION_COOKIE,
    DeskSession,
    check_csrf,
    end_session,
    open_session,
    read_session,
    redeem_link,
    session_end,
    staff_from_token,
)
from api.services import Services
from basics.clock import utcnow
from basics.principal import Principal

router = APIRouter(prefix="/desk", include_in_schema=False)
SIGN_IN_CSRF_COOKIE = "desk_sign_in"
"""Before a session exists, the sign-in form is protected by a random value in a cookie and in the form."""


def secret_of(services: Services) -> str:
    return services.settings.jwt_secret.get_secret_value()


async def desk_session(request: Request, services: AppServices) -> DeskSession:
    return await read_session(services.database, secret_of(services), request.cookies.get(SESSION_COOKIE))


Desk = Annotated[DeskSession, Depends(desk_session)]


async def checked_form(request: Request, session: Desk) -> dict[str, str]:
    """The posted form, after its CSRF token was checked against the session."""
    form = await request.form()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    check_csrf(session, fields.get("csrf"))
    return fields


DeskForm = Annotated[dict[str, str], Depends(checked_form)]


async def signed_in(
    services: Services, principal: Principal, token_expires_at: float | None, to: str = "/desk"
) -> Response:
    """A new session for `principal` and the redirect that sets its cookie. It lasts the desk's configured time,
    or until the staff token it was opened with expires, if that is sooner (`token_expires_at`; None for a
    one-time link, which proves who signs in only at that moment)."""
    settings = services.settings
    now = utcnow()
    expires_at = session_end(now, timedelta(minutes=settings.desk_session_minutes), token_expires_at)
    cookie, _ = await open_session(services.database, secret_of(services), principal, expires_at)
    response = RedirectResponse(to, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        max_age=max(0, int((expires_at - now).total_seconds())),
        path="/desk",
        httponly=True,
        samesite="strict",
        secure=settings.desk_cookie_secure,
    )
    response.delete_cookie(SIGN_IN_CSRF_COOKIE, path="/desk")
    return response


@router.get("/sign-in", response_model=None)
async def sign_in_page(request: Request, services: AppServices) -> Response:
    """The sign-in form; or, when a single-sign-on proxy in front sends the staff JWT as a bearer header, the
    session at once."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return await signed_in(services, *await staff_from_token(services.verifier, token))
    form_key = secrets.token_urlsafe(24)
    page: HTMLResponse = render(request, "sign_in.html", {"form_key": form_key})
    page.set_cookie(
        SIGN_IN_CSRF_COOKIE,
        form_key,
        path="/desk",
        httponly=True,
        samesite="strict",
        secure=services.settings.desk_cookie_secure,
    )
    return page


@router.post("/sign-in", response_model=None)
async def sign_in(
    request: Request, services: AppServices, token: Annotated[str, Form()], csrf: Annotated[str, Form()] = ""
) -> Response:
    expected = request.cookies.get(SIGN_IN_CSRF_COOKIE)
    if not expected or not hmac.compare_digest(csrf, expected):
        return render(request, "sign_in.html", {"error": "The form expired; please try again."}, status_code=403)
    return await signed_in(services, *await staff_from_token(services.verifier, token))


@router.get("/sign-in/link", response_model=None)
async def sign_in_by_link(services: AppServices, token: str) -> Response:
    """A one-time link from `support desk-link`."""
    principal = await redeem_link(services.database, secret_of(services), token)
    return await signed_in(services, principal, None)


@router.post("/sign-out", response_model=None)
async def sign_out(services: AppServices, session: Desk, _: DeskForm) -> Response:
    """End the session everywhere (every replica, every copy of its cookie), then drop the cookie here."""
    await end_session(services.database, session)
    response = RedirectResponse("/desk/sign-in", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/desk")
    return response
