"""A Messages API stand-in for load: every answer takes `--delay` seconds, and a conversation's turn is one tool
call (`get_order_details` for the order the customer named) and then a short answer.

It runs as its own process so its CPU does not count as the service's, speaks the same wire format as the test
fake (`testkit.fakes.anthropic_api`, whose body builders it reuses, JSON and SSE streams alike), and keeps count
of the connections it holds at once and of its own CPU time (`GET /stats`), so a run can show the fake was not
the bottleneck. Raw asyncio rather than an ASGI server: with hundreds of held connections an ASGI stack would
cost more CPU than the answers.

    python benchmarks/load/fake_model.py --port 8701 --delay 0.5
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import resource
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from testkit.fakes.anthropic_api import Reply, Text, ToolUse, chunk, message_body, sse, stream_events

ORDER_ID = re.compile(r"#W\d{7}")


def answer_for(body: dict[str, Any]) -> Reply:
    """A tool call for the order named in the last customer message; once its result is back, the answer."""
    last = body.get("messages", [{}])[-1]
    content = last.get("content")
    blocks = content if isinstance(content, list) else [{"type": "text", "text": str(content)}]
    if any(block.get("type") == "tool_result" for block in blocks):
        return Reply(content=(Text("Your order is on its way; it should arrive within the week."),))
    words = " ".join(str(block.get("text", "")) for block in blocks)
    found = ORDER_ID.search(words)
    order = found.group(0) if found else "#W0000000"
    return Reply(content=(ToolUse("get_order_details", {"order_id": order}),), stop_reason="tool_use")


class Counters:
    def __init__(self) -> None:
        self.open = 0
        self.most_open = 0
        self.answered = 0


async def read_request(reader: asyncio.StreamReader) -> tuple[str, dict[str, str], bytes] | None:
    line = await reader.readline()
    if not line.strip():
        return None
    target = line.decode("latin-1").split(" ")[1]
    headers: dict[str, str] = {}
    while (header := await reader.readline()) not in (b"\r\n", b"\n", b""):
        name, _, value = header.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return target, headers, body


def response(status: int, content_type: str, body: bytes) -> bytes:
    head = f"HTTP/1.1 {status} OK\r\ncontent-type: {content_type}\r\ncontent-length: {len(body)}\r\n\r\n"
    return head.encode() + body


def stats(counters: Counters) -> bytes:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    body = {
        "answered": counters.answered,
        "most_open_connections": counters.most_open,
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
    }
    return response(200, "application/json", json.dumps(body).encode())


async def serve(port: int, delay_s: float) -> None:
    counters = Counters()

    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        counters.open += 1
        counters.most_open = max(counters.most_open, counters.open)
        try:
            while (request := await read_request(reader)) is not None:
                target, _headers, raw = request
                if target.startswith("/stats"):
                    writer.write(stats(counters))
                    await writer.drain()
                    continue
                body = json.loads(raw)
                reply = answer_for(body)
                await asyncio.sleep(delay_s)
                model = str(body.get("model", "claude-fake"))
                if body.get("stream"):
                    head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
                    events = b"".join(chunk(sse(name, data)) for name, data in stream_events(reply, model))
                    writer.write(head.encode() + events + b"0\r\n\r\n")
                else:
                    writer.write(response(200, "application/json", message_body(reply, model)))
                await writer.drain()
                counters.answered += 1
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            counters.open -= 1
            writer.close()

    server = await asyncio.start_server(connection, "127.0.0.1", port, backlog=2048)
    print(f"fake Messages API on 127.0.0.1:{port}, answering in {delay_s:.3f} s", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--delay", type=float, default=0.5)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.port, args.delay))


if __name__ == "__main__":
    main()
