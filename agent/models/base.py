"""The model interface: one request in, one response out, in the shape of the Messages API.

Every adapter (Anthropic, offline, scripted, and the fallbacks) speaks this interface, so the loop never knows
which one answered. A conversation is a list of `Message`s whose JSON form (`to_json`) is the Messages API's
own, which is also how a paused run's state is stored.

What a provider returns that the service does not act on is kept as it came and sent back unchanged: thinking and
redacted thinking (the API refuses a tool loop whose thinking was dropped or edited), and server tools' blocks.
What the API refuses is never kept: a text block without words (`without_blank_text`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeVar

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
class ThinkingBlock:
    """The model's thinking, with the signature that lets the provider check it comes back unchanged. The text may
    be empty (models that return only the signature)."""

    thinking: str
    signature: str

    def to_json(self) -> dict[str, Any]:
        return {"type": "thinking", "thinking": self.thinking, "signature": self.signature}


@dataclass(frozen=True, slots=True)
class RedactedThinkingBlock:
    """Thinking the provider encrypted: opaque, passed back as it came."""

    data: str

    def to_json(self) -> dict[str, Any]:
        return {"type": "redacted_thinking", "data": self.data}


@dataclass(frozen=True, slots=True)
class ProviderBlock:
    """A block the provider produced and runs itself (a server tool's call or result): nothing for the service to
    act on, but part of the answer, so it goes back exactly as it came."""

    data: dict[str, Any]

    @property
    def type(self) -> str:
        return str(self.data.get("type"))

    def to_json(self) -> dict[str, Any]:
        return dict(self.data)


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


AnswerBlock = TextBlock | ToolUseBlock | ThinkingBlock | RedactedThinkingBlock | ProviderBlock
"""What a model's answer holds."""
Block = AnswerBlock | ToolResultBlock
THINKING = (ThinkingBlock, RedactedThinkingBlock)


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
    if kind == "thinking":
        return ThinkingBlock(thinking=str(data.get("thinking", "")), signature=str(data.get("signature", "")))
    if kind == "redacted_thinking":
        return RedactedThinkingBlock(data=str(data.get("data", "")))
    if isinstance(kind, str) and kind:
        return ProviderBlock(dict(data))
    raise ValueError(f"unknown content block type {kind!r}")


def has_words(block: Block) -> bool:
    return not isinstance(block, TextBlock) or bool(block.text.strip())


B = TypeVar("B", bound=Block)


def without_blank_text(blocks: Iterable[B]) -> tuple[B, ...]:
    """The blocks less any text block without words: the Messages API refuses an empty or whitespace-only text
    block in every later request ("text content blocks must contain non-whitespace text"), and a model sometimes
    writes one ("\\n\\n") before a tool call."""
    return tuple(block for block in blocks if has_words(block))


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

    @property
    def opens_with_thinking(self) -> bool:
        return bool(self.content) and isinstance(self.content[0], THINKING)

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
    """Room for the visible answer. A thinking model's adapter adds room for its thinking."""
    conversation_id: str = ""
    deadline: float | None = None
    """`time.monotonic()` by which the run must have its answer: a provider asking to be retried later than this
    is skipped at once for the next model of a fallback chain."""
    shortened: bool = False
    """The history was already shortened for this call after a prompt too long: a second refusal falls back."""
    labels: dict[str, str] = field(default_factory=dict)
    """What the call's spans and metrics carry besides the model: its route and prompt version. Not sent."""


@dataclass(frozen=True, slots=True)
class ModelResponse:
    content: tuple[AnswerBlock, ...]
    stop_reason: str
    usage: Usage = field(default_factory=Usage)
    model: str = ""
    """The model that answered, as its provider names it."""
    provider: str = ""
    """The provider that answered; set by a fallback chain, where it may differ from the first link."""
    fallback_reason: str | None = None
    """Why a later link of a fallback chain answered instead of the first: what the links before it did."""
    pause_continues_as_is: bool = True
    """For a paused turn (`pause_turn`): whether the provider continues it from the paused answer sent back as the
    last message. When not (a model without prefill, and an answer that does not end inside a server tool), the
    service adds a notice asking it to go on."""

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
