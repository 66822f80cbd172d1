"""A bound on every request body, enforced before anything reads it.

FastAPI reads and parses a route's body before it resolves the route's dependencies, authentication included: a
30 MB JSON body with no token used to be parsed whole (tens of MB of memory) before its 401. This middleware sits
in front of every route. A declared `Content-Length` over the limit is answered 413 at once, before one byte of
the body is read. A body without one (chunked) is read here up to the limit and no further: past it, 413 and the
rest is never read; within it, the app is handed the bytes as if it read them itself. So no route, page or
static file ever holds more than the limit of one request's body, and an unidentified client learns only that
the body is too large.

The limit sits well above the largest legitimate body: a chat message of `SUPPORT_MAX_MESSAGE_BYTES` written as
JSON escapes (`\\u0001` is six bytes for one) fits several times over; the message's own limit is checked by its
route, with its own answer.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import error_response

DEFAULT_MAX_REQUEST_BYTES = 65_536


class BodyLimit:
    """A plain ASGI middleware (a `BaseHTTPMiddleware` would buffer streamed answers)."""

    def __init__(self, app: ASGIApp, *, max_bytes: int = DEFAULT_MAX_REQUEST_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        if declared is not None and declared <= self.max_bytes:
            # The server stops at the declared length, so the app can read the body as it comes.
            await self.app(scope, receive, send)
            return
        body, rest = await self._read_within_limit(receive)
        if body is None:
            await self._refuse(scope, receive, send)
            return
        await self.app(scope, _replaying(body, rest, receive), send)

    async def _read_within_limit(self, receive: Receive) -> tuple[bytes | None, Message | None]:
        """The whole body if it fits (with the message that ended it, when that was not the body's last part:
        a disconnect), or None as soon as it does not."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return b"".join(chunks), message
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                return None, None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks), None

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(
            413,
            "request_too_large",
            f"a request body can be at most {self.max_bytes} bytes",
            {"Connection": "close"},
        )
        await response(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            # The server refuses a malformed length before we see it; anything else odd is treated as too large.
            return int(text) if text.isascii() and text.isdigit() and len(text) <= 18 else 1 << 62
    return None


def _replaying(body: bytes, ending: Message | None, receive: Receive) -> Receive:
    """A `receive` that hands the app the body already read, in one piece, then whatever comes next."""
    pending: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]
    if ending is not None:
        pending.append(ending)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay
