"""Request bodies are bounded before they are read, on every route, before anyone is identified.

Through a real HTTP server (uvicorn), on raw sockets, so what is measured is what the server read: a declared
length over the limit is answered while the client has sent no byte of the body; a chunked body is cut off once
it passes the limit, long before the client has sent it all.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest

from api.app import create_app
from testkit.http_server import served
from testkit.service import bearer, running_service, service_settings

LIMIT = 65_536
HUGE = 30 * 1024 * 1024
ROUTES = [
    "/v1/conversations",
    "/v1/conversations/conv_x/messages",
    "/v1/conversations/conv_x/confirmations/conf_x",
    "/v1/approvals/appr_x/approve",
    "/v1/handoffs/hoff_x/messages",
    "/desk/sign-in",
    "/desk/approvals/appr_x/approve",
    "/demo/token",
    "/no/such/route",
]


@pytest.fixture
async def base_url(sqlite_url: str) -> AsyncIterator[str]:
    app = create_app(service_settings(sqlite_url))
    async with served(app) as url:
        yield url


async def exchange(base_url: str, head: str, body_chunks: AsyncIterator[bytes] | None) -> tuple[bytes, int]:
    """Send `head` and then the chunks (until the server answers); return the answer and the body bytes sent."""
    address = urlsplit(base_url)
    reader, writer = await asyncio.open_connection(address.hostname, address.port)
    sent = 0
    writer.write(head.encode())
    await writer.drain()

    async def feed() -> None:
        nonlocal sent
        if body_chunks is None:
            return
        try:
            async for chunk in body_chunks:
                writer.write(chunk)
                await writer.drain()
                sent += len(chunk)
        except (ConnectionError, OSError):
            pass  # the server closed the connection after answering: the rest is never read

    feeding = asyncio.create_task(feed())
    try:
        async with asyncio.timeout(20):
            answer = await reader.readuntil(b"\r\n\r\n")
            answer += await reader.read(4096)
    finally:
        feeding.cancel()
        writer.close()
    return answer, sent


async def test_a_declared_length_over_the_limit_is_413_before_any_body_byte_and_before_auth(base_url: str) -> None:
    for route in ROUTES:
        head = (
            f"POST {route} HTTP/1.1\r\nHost: service.test\r\nContent-Type: application/json\r\n"
            f"Content-Length: {HUGE}\r\n\r\n"
        )
        answer, sent = await exchange(base_url, head, None)
        assert answer.startswith(b"HTTP/1.1 413"), (route, answer[:200])
        assert b'"request_too_large"' in answer
        assert sent == 0


async def test_a_chunked_body_is_cut_off_at_the_limit(base_url: str) -> None:
    async def thirty_megabytes() -> AsyncIterator[bytes]:
        piece = b"x" * 16_384
        for _ in range(HUGE // len(piece)):
            yield f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
        yield b"0\r\n\r\n"

    for route in ("/v1/conversations/conv_x/messages", "/desk/sign-in"):
        head = (
            f"POST {route} HTTP/1.1\r\nHost: service.test\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\n\r\n"
        )
        answer, sent = await exchange(base_url, head, thirty_megabytes())
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
        assert sent < HUGE // 4  # answered long before the client could send it all


async def test_bodies_within_the_limit_still_work_including_chunked_ones(sqlite_url: str) -> None:
    async with running_service(sqlite_url) as service:
        conversation = await service.new_conversation("james_li_5688")

        async def chunked() -> AsyncIterator[bytes]:
            yield b'{"content": "Where is my order '
            yield b'#W2611340?"}'

        answer = await service.http.post(
            f"/v1/conversations/{conversation}/messages",
            content=chunked(),
            headers={**bearer("james_li_5688"), "content-type": "application/json"},
        )
        assert answer.status_code == 200, answer.text
        assert "transfer-encoding" in {k.lower() for k in answer.request.headers}
        # A message at the message limit, written all in JSON escapes, still fits in a request.
        escaped = '{"content": "Hello ' + "\\u0001" * (8192 - 6) + '"}'
        assert len(escaped) > LIMIT * 2 // 3
        answer = await service.http.post(
            f"/v1/conversations/{conversation}/messages",
            content=escaped.encode(),
            headers={**bearer("james_li_5688"), "content-type": "application/json"},
        )
        assert answer.status_code == 200, answer.text


async def test_the_limit_is_a_setting(sqlite_url: str) -> None:
    async with running_service(sqlite_url, SUPPORT_MAX_REQUEST_BYTES=8192) as service:
        answer = await service.http.post("/v1/conversations", content=b"{" + b" " * 9000 + b"}")
        assert answer.status_code == 413
        assert answer.json()["error"]["code"] == "request_too_large"
        assert (await service.http.post("/v1/conversations", content=b"{}")).status_code == 401
