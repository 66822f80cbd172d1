"""The model interface: one request in, one response out, in the shape of the Messages API.

Every adapter (Anthropic, offline, scripted, and the fallbacks) speaks this interface, so the loop never knows
which one answered. A conversation is a list of `Message`s whose JSON form (`to_json`) is the Messages API's
own, which is also how a paused run's state is stored.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Role = Literal["user", "assistant"]

STOP_REASONS = (
    "end_turn",
    "tool_use",
    "max_tokens",
    "stop_sequence",
    "pause_turn",
    "refusal",
    "model_context_window_exceeded",
)


@dataclass(frozen=True, slots=True)
class TextBlock:
    text: str

    def to_json(self) -> dict[str, Any]:
        return {"type": "text", "text": self.text}


@dataclass(frozen=True, slots=True)
class ToolUseBlock:
    id: str
    name: str
    input: Any
    """What the model sent as arguments. Usually a JSON object, but never trusted to be one."""

    def to_json(self) -> dict[str, Any]:
        return {"type": "tool_use", "id": self.id, "name": self.name, "input": self.input}


@dataclass(frozen=True, slots=True)
class ToolResultBlock:
    tool_use_id: str
    content: str
    """The result as JSON text."""
    is_error: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "tool_result",
            "tool_use_id": self.tool_use_id,
            "content": self.content,
            "is_error": self.is_error,
        }


Block = TextBlock | ToolUseBlock | ToolResultBlock


def block_from_json(data: dict[str, Any]) -> Block:
    kind = data.get("type")
    if kind == "text":
        return TextBlock(text=str(data.get("text", "")))
    if kind == "tool_use":
        return ToolUseBlock(id=str(data["id"]), name=str(data["name"]), input=data.get("input"))
    if kind == "tool_result":
        return ToolResultBlock(
            tool_use_id=str(data["tool_use_id"]),
            content=str(data.get("content", "")),
            is_error=bool(data.get("is_error", False)),
        )
    raise ValueError(f"unknown content block type {kind!r}")


@dataclass(frozen=True, slots=True)
class Message:
    role: Role
    content: tuple[Block, ...]

    @classmethod
    def user_text(cls, text: str) -> Message:
        return cls(role="user", content=(TextBlock(text),))

    @property
    def text(self) -> str:
        """The message's text blocks joined: what a person reads."""
        return "".join(b.text for b in self.content if isinstance(b, TextBlock))

    @property
    def tool_uses(self) -> list[ToolUseBlock]:
        return [b for b in self.content if isinstance(b, ToolUseBlock)]

    @property
    def tool_results(self) -> list[ToolResultBlock]:
        return [b for b in self.content if isinstance(b, ToolResultBlock)]

    def to_json(self) -> dict[str, Any]:
        return {"role": self.role, "content": [b.to_json() for b in self.content]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Message:
        role = data["role"]
        if role not in ("user", "assistant"):
            raise ValueError(f"unknown role {role!r}")
        content = data["content"]
        if isinstance(content, str):
            return cls(role=role, content=(TextBlock(content),))
        return cls(role=role, content=tuple(block_from_json(b) for b in content))


@dataclass(frozen=True, slots=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens + self.cache_read_input_tokens + self.cache_creation_input_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cache_read_input_tokens + other.cache_read_input_tokens,
            self.cache_creation_input_tokens + other.cache_creation_input_tokens,
        )


@dataclass(frozen=True, slots=True)
class ModelRequest:
    system: str
    tools: list[dict[str, Any]]
    """Tool definitions: `{"name", "description", "input_schema"}`, in a stable order."""
    messages: list[Message]
    max_tokens: int = 1024
    conversation_id: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    """What the call's spans and metrics carry besides the model: its route and prompt version. Not sent."""


@dataclass(frozen=True, slots=True)
class ModelResponse:
    content: tuple[TextBlock | ToolUseBlock, ...]
    stop_reason: str
    usage: Usage = field(default_factory=Usage)
    model: str = ""
    """The model that answered, as its provider names it."""
    provider: str = ""
    """The provider that answered; set by a fallback chain, where it may differ from the first link."""

    @property
    def text(self) -> str:
        return "".join(b.text for b in self.content if isinstance(b, TextBlock))

    @property
    def tool_uses(self) -> list[ToolUseBlock]:
        return [b for b in self.content if isinstance(b, ToolUseBlock)]

    def as_message(self) -> Message:
        return Message(role="assistant", content=tuple(self.content))


TextSink = Callable[[str], Awaitable[None]]
"""Receives text as the model produces it (for streaming to the widget)."""


@dataclass(frozen=True, slots=True)
class RetractableText:
    """A `TextSink` that can also be told to drop everything it received so far: a fallback model taking over
    after the first one streamed part of an answer calls `retract`, so the reader never sees two half answers."""

    on_text: TextSink
    on_retract: Callable[[str], Awaitable[None]]

    async def __call__(self, text: str) -> None:
        await self.on_text(text)

    async def retract(self, reason: str) -> None:
        await self.on_retract(reason)


class Model(Protocol):
    """A chat model with tools. `provider` and `name` appear on runs and spans (e.g. `anthropic`,
    `claude-sonnet-4-6`; `offline`, `offline-intent-1`)."""

    provider: str
    name: str

    async def complete(self, request: ModelRequest, *, on_text: TextSink | None = None) -> ModelResponse:
        """Answer the conversation. Raises `agent.errors.ModelError` subclasses on failure."""
        ...
