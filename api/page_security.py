"""What a browser is told about the service's answers: never frame them, never guess their type, and, on the desk's
pages, run nothing but the service's own files.

Every answer carries `X-Frame-Options: DENY` and a Content Security Policy with `frame-ancestors 'none'`: nothing
this service serves is meant to be shown inside another page. That matters most on the desk, where an approval
page has an Approve button: a page of the same site (which the SameSite cookie does not keep out) could otherwise
frame it and trick a signed-in agent into clicking.

- The desk (`/desk...`): scripts, styles and form posts from this origin only, no inline script or style, no
  plug-ins, no `<base>`; the pages are not cached and leak no address to the links they hold (a trace in Jaeger).
- The demo (`/demo`): its own page, so it gets the same policy, with a nonce for its one inline script and style
  (`page_nonce`); it sets its header itself.
- The widget's files (`/widget.js`, `/widget/...`) are scripts and a stylesheet that run inside the store's own
  page, not pages of their own: the store's page, and its policy, decide what they may do, and a header here cannot
  protect or restrict it. They keep the headers every answer has, which say nothing to a script. A store that sends
  a policy must allow this service's origin in `script-src`, `style-src` and `connect-src`.
- JSON and event streams: `default-src 'none'` as well, so an answer opened as a document runs nothing.

Answers that already carry a policy (the demo page) keep theirs.
"""

from __future__ import annotations

import secrets

from starlette.types import ASGIApp, Message, Receive, Scope, Send

FRAMING = "frame-ancestors 'none'"
DESK_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    f"form-action 'self'; base-uri 'none'; object-src 'none'; {FRAMING}"
)
NOTHING_POLICY = f"default-src 'none'; {FRAMING}"


def page_policy(nonce: str) -> str:
    """A page of our own that needs one inline script and one inline style (the demo): allowed by `nonce` only."""
    return (
        f"default-src 'none'; script-src 'self' 'nonce-{nonce}'; style-src 'self' 'nonce-{nonce}'; img-src 'self'; "
        f"connect-src 'self'; form-action 'self'; base-uri 'none'; object-src 'none'; {FRAMING}"
    )


def page_nonce() -> str:
    return secrets.token_urlsafe(18)


class PageSecurity:
    """A plain ASGI middleware: headers added to each answer as it starts, streamed answers untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        desk = path == "/desk" or path.startswith("/desk/")

        async def secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                kind = next((value.lower() for name, value in headers if name.lower() == b"content-type"), b"")
                html = kind.startswith(b"text/html")
                added = [(b"x-frame-options", b"DENY"), (b"x-content-type-options", b"nosniff")]
                if b"content-security-policy" not in present:
                    policy = DESK_POLICY if desk else FRAMING if html else NOTHING_POLICY
                    added.append((b"content-security-policy", policy.encode()))
                if desk:
                    added.append((b"referrer-policy", b"same-origin"))
                    if html:
                        added.append((b"cache-control", b"no-store"))
                headers.extend((name, value) for name, value in added if name not in present)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, secured)
