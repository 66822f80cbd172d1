"""Choosing the models from configuration: one spec per model, and an optional chain of fallbacks.

offline                                   the deterministic offline model
anthropic:<model id>                      Claude through the official SDK (needs an API key)
openai:<model>@<base url>                 any OpenAI-compatible endpoint, e.g. openai:llama3.1@http://ollama:11434/v1

A Claude model id is checked against the service's table of models (`agent.models.claude.catalog`) with the
thinking and token settings, before any client is made: `check_chain` runs at start-up, before the database.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from opentelemetry.trace import TracerProvider

from agent.errors import ConfigurationError
from agent.models.base import Model
from agent.models.claude import catalog as claude_catalog
from agent.models.health import ModelHealth
from agent.telemetry.recorder import Telemetry

PROVIDERS = ("offline", "anthropic", "openai")


@dataclass(frozen=True, slots=True)
class Credentials:
    anthropic_api_key: str | None = None
    anthropic_base_url: str | None = None
    openai_api_key: str | None = None
    timeout_s: float = 30.0
    max_retries: int = 2


@dataclass(frozen=True, slots=True)
class ClaudeOptions:
    """SUPPORT_THINKING, SUPPORT_MAX_OUTPUT_TOKENS and SUPPORT_CONTEXT_TOKENS, as every Claude link gets them."""

    thinking: str | None = None
    answer_tokens: int = 1024
    context_tokens: int | None = None


def check_claude(name: str, options: ClaudeOptions) -> None:
    """Stop here, with what to change, when the API would refuse the requests this model id and these settings
    make."""
    plan = claude_catalog.plan(name, claude_catalog.parse_thinking(options.thinking), options.answer_tokens)
    if options.context_tokens is not None:
        claude_catalog.check_context(name, options.context_tokens, options.answer_tokens + plan.room)


def check_chain(primary: str, fallbacks: str, options: ClaudeOptions) -> None:
    check_models([primary, *(s for s in fallbacks.split(",") if s.strip())], options)


def check_models(specs: Iterable[str], options: ClaudeOptions, *, setting: str | None = None) -> None:
    """Each model of a chain (a route's): a known provider, and a Claude id the table knows, whose limits the
    settings fit. `setting` names where the models came from, in the refusal."""
    for spec in specs:
        provider, _, name = spec.strip().partition(":")
        try:
            if provider not in PROVIDERS:
                raise ConfigurationError(
                    f"unknown model {spec!r}: use offline, anthropic:<model id> or openai:<model>@<url>"
                )
            if provider == "anthropic" and name:
                check_claude(name, options)
        except ConfigurationError as error:
            raise ConfigurationError(f"{setting}: {error}" if setting else str(error)) from None


def build_model(
    spec: str,
    credentials: Credentials,
    *,
    tracer_provider: TracerProvider | None = None,
    claude: ClaudeOptions | None = None,
) -> Model:
    provider, _, name = spec.strip().partition(":")
    if provider == "offline":
        from agent.models.offline import OfflineModel

        return OfflineModel()
    if provider == "anthropic":
        if not name:
            raise ConfigurationError("use anthropic:<model id>, e.g. anthropic:claude-sonnet-4-6")
        if not credentials.anthropic_api_key:
            raise ConfigurationError("an Anthropic model needs ANTHROPIC_API_KEY")
        from agent.models.claude.adapter import AnthropicModel

        options = claude or ClaudeOptions()
        check_claude(name, options)
        return AnthropicModel(
            name,
            api_key=credentials.anthropic_api_key,
            base_url=credentials.anthropic_base_url,
            timeout_s=credentials.timeout_s,
            max_retries=credentials.max_retries,
            tracer_provider=tracer_provider,
            thinking=claude_catalog.parse_thinking(options.thinking),
            answer_tokens=options.answer_tokens,
        )
    if provider == "openai":
        model, _, base_url = name.partition("@")
        if not model or not base_url.startswith(("http://", "https://")):
            raise ConfigurationError("use openai:<model>@<base url>, e.g. openai:llama3.1@http://ollama:11434/v1")
        from agent.models.openai_compatible import OpenAICompatibleModel

        return OpenAICompatibleModel(
            model,
            base_url=base_url,
            api_key=credentials.openai_api_key,
            timeout_s=credentials.timeout_s,
            max_attempts=credentials.max_retries + 1,
        )
    raise ConfigurationError(f"unknown model {spec!r}: use offline, anthropic:<model id> or openai:<model>@<url>")


def build_chain(
    primary: str,
    fallbacks: str,
    credentials: Credentials,
    *,
    telemetry: Telemetry | None = None,
    claude: ClaudeOptions | None = None,
    health: ModelHealth | None = None,
) -> Model:
    """The primary model alone, or a fallback chain (reporting to `health`). A remote primary always ends in the
    offline model."""
    specs = [primary, *(s for s in fallbacks.split(",") if s.strip())]
    if specs[-1].strip() != "offline" and primary.strip() != "offline":
        specs.append("offline")
    provider = telemetry.tracer_provider if telemetry else None
    models = [build_model(spec, credentials, tracer_provider=provider, claude=claude) for spec in specs]
    if len(models) == 1:
        return models[0]
    from agent.models.fallback import FallbackChain

    return FallbackChain(models, telemetry=telemetry, health=health)
