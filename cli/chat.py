"""`support chat`: a customer's chat with a running server, in the terminal.

Besides the answer to each message, replies that arrive later (the run resumed after an approval, a staff
member's reply) are shown as they come: while the prompt waits for input, a thread reads the conversation every
`poll_s` seconds and prints the messages not shown yet. The conversation's message list only grows, so "not shown
yet" is everything past the count already printed.
"""

from __future__ import annotations

import sys
import threading
import uuid
from dataclasses import dataclass
from typing import Any, TextIO

import httpx

from agent import RunStatus

PROMPT = "you> "


class ChatFailed(Exception):
    """The chat cannot go on; the message is the one line the user sees."""


@dataclass
class TerminalChat:
    client: httpx.Client
    conversation: str = ""
    out: TextIO = sys.stdout
    shown: int = 0
    confirmation: str | None = None
    """The confirmation the last reply waits for: `/confirm` or `/decline` answers it (the widget's buttons)."""

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def start(self) -> str:
        created = self._request("POST", "/v1/conversations")
        if created.status_code != 201:
            raise ChatFailed(f"could not start a conversation: {created.status_code} {error_message(created)}")
        self.conversation = str(created.json()["id"])
        return self.conversation

    def send(self, text: str) -> None:
        if text in ("/confirm", "/decline") and self.confirmation:
            answer = self._request(
                "POST",
                f"/v1/conversations/{self.conversation}/confirmations/{self.confirmation}",
                json={"decision": text[1:]},
            )
        else:
            answer = self._request(
                "POST",
                f"/v1/conversations/{self.conversation}/messages",
                json={"content": text},
                headers={"Idempotency-Key": str(uuid.uuid4())},
            )
        if answer.status_code != 200:
            self._print(f"[{answer.status_code}] {error_message(answer)}")
            return
        self.show_new()
        run = answer.json()["run"]
        if run and run["status"] not in (RunStatus.COMPLETED, RunStatus.AWAITING_CONFIRMATION):
            self._print(f"         [{run['status']}]")

    def note_open_card(self, runs: list[dict[str, Any]]) -> None:
        """Remember the card the conversation waits on, whichever answer brought it (a reply to a message, or a
        run that resumed after a team member's decision and proposed another change), and say how to answer it."""
        card = next((r["pending_confirmation"] for r in reversed(runs) if r.get("pending_confirmation")), None)
        with self._lock:
            fresh = card is not None and card["id"] != self.confirmation
            self.confirmation = card["id"] if card else None
        if fresh:
            self._print("         [awaiting_confirmation: type /confirm or /decline]")

    def show_new(self, *, interrupting: bool = False) -> None:
        """Print the conversation's messages that have not been shown, except the customer's own."""
        read = self._request("GET", f"/v1/conversations/{self.conversation}")
        if read.status_code != 200:
            return
        messages: list[dict[str, Any]] = read.json()["messages"]
        with self._lock:
            fresh = messages[self.shown :]
            self.shown = len(messages)
        replies = [m for m in fresh if m["role"] != "customer"]
        if replies:
            lines = [f"{'support' if m['role'] == 'assistant' else m['role']}> {m['content']}" for m in replies]
            # a reply that arrives while the user is at the prompt goes above a fresh prompt
            self._print(("\n" if interrupting else "") + "\n".join(lines) + (f"\n{PROMPT}" if interrupting else ""))
        self.note_open_card(read.json()["runs"])

    def watch(self, poll_s: float) -> threading.Thread:
        def loop() -> None:
            while not self._stop.wait(poll_s):
                try:
                    self.show_new(interrupting=True)
                except ChatFailed as error:
                    self._print(f"\n{error}")
                    return

        thread = threading.Thread(target=loop, name="chat-watch", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self._stop.set()

    def _print(self, text: str) -> None:
        with self._lock:
            end = "" if text.endswith(PROMPT) else "\n"
            self.out.write(text + end)
            self.out.flush()

    def _request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            return self.client.request(method, url, **kwargs)
        except httpx.ConnectError:
            raise ChatFailed(f"cannot reach the support service at {self.client.base_url}: is it running?") from None
        except httpx.TransportError as error:
            raise ChatFailed(f"the connection to {self.client.base_url} failed: {error}") from None


def error_message(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return response.text


def run_chat(url: str, bearer: str, customer: str, poll_s: float) -> None:
    """The interactive loop; raises `ChatFailed` with the one line to show when it cannot go on."""
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {bearer}"}, timeout=120) as client:
        chat = TerminalChat(client)
        conversation = chat.start()
        print(f"conversation {conversation} as {customer}. Empty line or Ctrl-D to quit.", flush=True)
        chat.watch(poll_s)
        try:
            while True:
                try:
                    line = input(PROMPT).strip()
                except EOFError:
                    break
                if not line:
                    break
                chat.send(line)
        finally:
            chat.stop()
