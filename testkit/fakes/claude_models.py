"""What the fake Messages API knows about each Claude model: the far side's facts, kept apart from the service's
own table (`agent.models.claude.catalog`) so that a wrong entry there is caught here rather than copied.

Sources (read October 2026):
* limits: the models overview and each model's page, platform.claude.com/docs/en/about-claude/models/overview and
  .../models/<model>/overview ("Context window: 1M tokens · Max output: 128K tokens" for the 5.x and 4.6+ models;
  200K / 64K for Claude Haiku 4.5, Sonnet 4.5 and Opus 4.5);
* thinking: build-with-claude/thinking-troubleshooting ("Thinking support, defaults, and rejected configurations by
  model"), the 5.5 migration guides ("thinking cannot be disabled" on Opus 5.5 and Fable 5.1; `between_tools`
  instead of `disabled` on Sonnet 5.5), and the installed SDK's `ThinkingTypes`
  (anthropic/types/thinking_types.py: which `thinking.type` values a model accepts, each read on its own);
* display: build-with-claude/thinking ("display: omitted is the default on Fable 5 / Mythos 5 / Opus 5 / 4.8 /
  4.7 / Sonnet 5" and on the 5.5 models: thinking blocks come back with an empty `thinking` text);
* prefill: the SDK's `MessageCreateParamsBase.messages` docstring ("On models that don't support prefill, creating a
  message that ends with a partial assistant response returns a 400") and the model migration guides (the 4.6
  models and later do not take prefill);
* preserved thinking: build-with-claude/preserved-thinking/prefix-checks, `supportedModels` (Fable/Mythos 5.1 and
  5.2, Opus/Sonnet/Haiku 5.5): a thinking block is bound to the request prefix that produced it;
* prompt-cache minimum: build-with-claude/prompt-caching ("minimum cacheable prompt length"; 512 tokens on the 5.5
  models and Opus 5, per their migration guides; 4096 on Claude Haiku 4.5, Opus 4.5 and Opus 4.6; 1024 on
  Sonnet 4.6 and 4.5).
"""

from __future__ import annotations

from dataclasses import dataclass

M = 1_000_000
K = 1_000


@dataclass(frozen=True, slots=True)
class FakeModel:
    id: str
    context_window: int
    max_output: int
    thinks_by_default: bool
    """Omitting `thinking` runs adaptive thinking."""
    accepts: frozenset[str]
    """The `thinking.type` values the model takes (`ThinkingTypes`)."""
    prefill: bool
    omits_thinking_text: bool
    """Thinking blocks come back with `thinking: ""` (display `omitted` by default) and only a signature."""
    preserved_thinking: bool
    min_cacheable_tokens: int


ADAPTIVE_ONLY = frozenset({"adaptive"})
ADAPTIVE_OR_OFF = frozenset({"adaptive", "disabled"})
ADAPTIVE_OR_BETWEEN = frozenset({"adaptive", "between_tools"})
ALL_THREE = frozenset({"adaptive", "enabled", "disabled"})
BUDGET_ONLY = frozenset({"enabled", "disabled"})


def _models() -> dict[str, FakeModel]:
    table: list[FakeModel] = []
    for name in ("claude-fable-5-2", "claude-mythos-5-2", "claude-fable-5-1", "claude-mythos-5-1"):
        table.append(FakeModel(name, M, 128 * K, True, ADAPTIVE_ONLY, False, True, True, 512))
    for name in ("claude-fable-5", "claude-mythos-5"):
        table.append(FakeModel(name, M, 128 * K, True, ADAPTIVE_ONLY, False, True, False, 1024))
    table += [
        FakeModel("claude-opus-5-5", M, 128 * K, True, ADAPTIVE_ONLY, False, True, True, 512),
        FakeModel("claude-sonnet-5-5", M, 128 * K, True, ADAPTIVE_OR_BETWEEN, False, True, True, 512),
        FakeModel("claude-haiku-5-5", M, 128 * K, True, ADAPTIVE_OR_OFF, False, True, True, 512),
        FakeModel("claude-opus-5", M, 128 * K, True, ADAPTIVE_OR_OFF, False, True, False, 512),
        FakeModel("claude-sonnet-5", M, 128 * K, True, ADAPTIVE_OR_OFF, False, True, False, 1024),
        FakeModel("claude-opus-4-8", M, 128 * K, False, ADAPTIVE_OR_OFF, False, True, False, 1024),
        FakeModel("claude-opus-4-7", M, 128 * K, False, ADAPTIVE_OR_OFF, False, True, False, 1024),
        FakeModel("claude-opus-4-6", M, 128 * K, False, ALL_THREE, False, False, False, 4096),
        FakeModel("claude-sonnet-4-6", M, 128 * K, False, ALL_THREE, False, False, False, 1024),
    ]
    for name in ("claude-opus-4-5", "claude-opus-4-5-20251101"):
        table.append(FakeModel(name, 200 * K, 64 * K, False, BUDGET_ONLY, True, False, False, 4096))
    for name in ("claude-sonnet-4-5", "claude-sonnet-4-5-20250929"):
        table.append(FakeModel(name, 200 * K, 64 * K, False, BUDGET_ONLY, True, False, False, 1024))
    for name in ("claude-haiku-4-5", "claude-haiku-4-5-20251001"):
        table.append(FakeModel(name, 200 * K, 64 * K, False, BUDGET_ONLY, True, False, False, 4096))
    return {model.id: model for model in table}


MODELS = _models()
