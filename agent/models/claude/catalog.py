"""The Claude models the service knows, in one table, and the request settings each one gets: whether and how it
thinks, and how many tokens it may write.

The table is checked when the service starts: a model id it does not list, a thinking setting the model refuses,
or a limit the model cannot meet stops the start-up with a sentence saying what to change, instead of a "healthy"
service whose every request the API refuses (and the offline model answers).

Facts from Anthropic's model pages (about-claude/models/overview and each model's page: context window and max
output), build-with-claude/thinking-troubleshooting (which `thinking.type` values each model takes, and what omitting
`thinking` does), and the migration guides (the 4.6 models and later do not take an assistant prefill).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

from agent.errors import ConfigurationError

M = 1_000_000
K = 1_000
MIN_BUDGET = 1024
"""The smallest thinking budget the API takes (SDK `ThinkingConfigEnabledParam.budget_tokens`: "Must be ≥1024")."""
ADAPTIVE_ROOM = 8192
"""Tokens of `max_tokens` kept for adaptive thinking on top of the answer's own room. Thinking counts towards
`max_tokens`; without room for it a thinking model spends the whole allowance before writing a word."""


@dataclass(frozen=True, slots=True)
class ClaudeModel:
    id: str
    context_window: int
    max_output: int
    thinks_by_default: bool
    """Omitting `thinking` runs adaptive thinking."""
    thinking_types: frozenset[str]
    """The `thinking.type` values the model takes."""
    prefill: bool
    """Whether a request may end with an assistant message for the model to continue."""


def _catalog() -> dict[str, ClaudeModel]:
    always = frozenset({"adaptive"})
    adaptive_or_off = frozenset({"adaptive", "disabled"})
    every = frozenset({"adaptive", "enabled", "disabled"})
    budget = frozenset({"enabled", "disabled"})
    always_on = ("claude-fable-5-2", "claude-fable-5-1", "claude-fable-5", "claude-mythos-5-2", "claude-mythos-5-1")
    older = (
        "claude-opus-4-5",
        "claude-opus-4-5-20251101",
        "claude-sonnet-4-5",
        "claude-sonnet-4-5-20250929",
        "claude-haiku-4-5",
        "claude-haiku-4-5-20251001",
    )
    rows = [
        *(ClaudeModel(name, M, 128 * K, True, always, False) for name in (*always_on, "claude-mythos-5")),
        ClaudeModel("claude-opus-5-5", M, 128 * K, True, always, False),
        ClaudeModel("claude-sonnet-5-5", M, 128 * K, True, frozenset({"adaptive", "between_tools"}), False),
        ClaudeModel("claude-haiku-5-5", M, 128 * K, True, adaptive_or_off, False),
        ClaudeModel("claude-opus-5", M, 128 * K, True, adaptive_or_off, False),
        ClaudeModel("claude-sonnet-5", M, 128 * K, True, adaptive_or_off, False),
        ClaudeModel("claude-opus-4-8", M, 128 * K, False, adaptive_or_off, False),
        ClaudeModel("claude-opus-4-7", M, 128 * K, False, adaptive_or_off, False),
        ClaudeModel("claude-opus-4-6", M, 128 * K, False, every, False),
        ClaudeModel("claude-sonnet-4-6", M, 128 * K, False, every, False),
        *(ClaudeModel(name, 200 * K, 64 * K, False, budget, True) for name in older),
    ]
    return {row.id: row for row in rows}


CATALOG = _catalog()


@dataclass(frozen=True, slots=True)
class RequestPlan:
    """What every request to one model carries: its `thinking` parameter (None: omitted, the model's default),
    whether the model thinks, and the room kept for thinking in `max_tokens` (added to the answer's own)."""

    model: ClaudeModel
    thinking: dict[str, Any] | None
    thinks: bool
    room: int
    can_stop_thinking: bool
    """Whether `thinking` can be turned off for one request (a tool loop another model began without thinking)."""


def lookup(model_id: str) -> ClaudeModel:
    model = CATALOG.get(model_id)
    if model is not None:
        return model
    close = difflib.get_close_matches(model_id, list(CATALOG), n=1, cutoff=0.7)
    hint = f" Did you mean {close[0]}?" if close else ""
    raise ConfigurationError(
        f"unknown Claude model {model_id!r}: the API would refuse every request naming it.{hint} "
        f"Known models: {', '.join(sorted(CATALOG))}."
    )


def parse_thinking(setting: str | None) -> str | int | None:
    """SUPPORT_THINKING: unset (the model's own default), `off`, `adaptive`, or a budget in tokens."""
    value = (setting or "").strip().lower()
    if not value:
        return None
    if value in ("off", "adaptive"):
        return value
    if value.isdigit():
        return int(value)
    raise ConfigurationError(f"SUPPORT_THINKING={setting!r}: use off, adaptive, or a budget in tokens (e.g. 4096)")


def plan(model_id: str, thinking: str | int | None, answer_tokens: int) -> RequestPlan:
    """The requests for `model_id` with SUPPORT_THINKING `thinking` and room for an answer of `answer_tokens`,
    or `ConfigurationError` saying why the API would refuse them."""
    model = lookup(model_id)
    if answer_tokens > model.max_output:
        raise ConfigurationError(
            f"SUPPORT_MAX_OUTPUT_TOKENS={answer_tokens} is more than {model.id} can write ({model.max_output} tokens)"
        )
    param, thinks, room = _thinking(model, thinking)
    if answer_tokens + room > model.max_output:
        if isinstance(thinking, int):
            raise ConfigurationError(
                f"SUPPORT_THINKING={thinking} with SUPPORT_MAX_OUTPUT_TOKENS={answer_tokens} needs "
                f"{answer_tokens + room} output tokens; {model.id} writes at most {model.max_output}"
            )
        room = model.max_output - answer_tokens
    return RequestPlan(model, param, thinks, room, "disabled" in model.thinking_types)


def _thinking(model: ClaudeModel, setting: str | int | None) -> tuple[dict[str, Any] | None, bool, int]:
    if setting is None:
        return None, model.thinks_by_default, ADAPTIVE_ROOM if model.thinks_by_default else 0
    if setting == "off":
        if "disabled" in model.thinking_types:
            return {"type": "disabled"}, False, 0
        if "between_tools" in model.thinking_types:  # its way of turning up-front thinking off
            return {"type": "between_tools"}, False, 0
        raise ConfigurationError(
            f"{model.id} always thinks: SUPPORT_THINKING=off cannot be honoured; leave it unset or set adaptive"
        )
    if setting == "adaptive":
        if "adaptive" not in model.thinking_types:
            raise ConfigurationError(
                f"{model.id} does not take adaptive thinking: set a budget (SUPPORT_THINKING=4096) or leave it unset"
            )
        return {"type": "adaptive"}, True, ADAPTIVE_ROOM
    assert isinstance(setting, int)
    if "enabled" not in model.thinking_types:
        raise ConfigurationError(
            f"{model.id} takes no thinking budget (it thinks adaptively): set SUPPORT_THINKING=adaptive or leave it "
            "unset"
        )
    if setting < MIN_BUDGET:
        raise ConfigurationError(f"SUPPORT_THINKING={setting}: a thinking budget is at least {MIN_BUDGET} tokens")
    return {"type": "enabled", "budget_tokens": setting}, True, setting


def check_context(model_id: str, context_tokens: int, max_tokens: int) -> None:
    """The history budget and the answer must fit the model's context window together."""
    model = lookup(model_id)
    if context_tokens + max_tokens > model.context_window:
        raise ConfigurationError(
            f"SUPPORT_CONTEXT_TOKENS={context_tokens} plus {max_tokens} output tokens exceed {model.id}'s context "
            f"window of {model.context_window} tokens"
        )
