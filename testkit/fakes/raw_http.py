"""HTTP/1.1 by hand, for the fake Messages API: reading a request (chunked or not) and writing a response, so a
test controls every byte (a connection dropped without a response, a stream cut mid-way)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping

from testkit.fakes.messages_wire import HttpError, new_id

REASONS: dict[int, str] = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    408: "Request Timeout",
    409: "Conflict",
    413: "Payload Too Large",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
    529: "Overloaded",
}


async def read_request(reader: asyncio.StreamReader) -> tuple[str, str, dict[str, str], bytes] | None:
    """Method, path, headers (lower-case names) and body of the next request; None when the client is done."""
    line = await reader.readline()
    if not line.strip():
        return None
    method, target, _version = line.decode("latin-1").split(" ", 2)
    headers: dict[str, str] = {}
    while (header := await reader.readline()) not in (b"\r\n", b"\n", b""):
        name, _, value = header.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        raw = b""
        while size := int((await reader.readline()).split(b";")[0], 16):
            raw += await reader.readexactly(size)
            await reader.readexactly(2)
        await reader.readline()
    else:
        raw = await reader.readexactly(int(headers.get("content-length", "0")))
    return method, target.split("?")[0], headers, raw


def status_line_and_headers(status: int, headers: Mapping[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def send(writer: asyncio.StreamWriter, status: int, headers: Mapping[str, str], body: bytes) -> None:
    base = {"request-id": new_id("req_fake"), "content-length": str(len(body))}
    writer.write(status_line_and_headers(status, {**base, **headers}) + body)
    await writer.drain()


async def send_error(writer: asyncio.StreamWriter, error: HttpError) -> None:
    """The API's error body, with `retry-after`, `retry-after-ms` and `x-should-retry` when the error has them."""
    headers = {"content-type": "application/json", **error.headers}
    if error.retry_after is not None:
        headers["retry-after"] = str(error.retry_after)
    if error.retry_after_ms is not None:
        headers["retry-after-ms"] = str(error.retry_after_ms)
    if error.should_retry is not None:
        headers["x-should-retry"] = "true" if error.should_retry else "false"
    await send(writer, error.status, headers, json.dumps(error.body()).encode())
