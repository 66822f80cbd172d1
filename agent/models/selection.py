"""Choosing the models from configuration: one spec per model, and an optional chain of fallbacks.

offline                                   the deterministic offline model
anthropic:<model id>                      Claude through the official SDK (needs an API key)
openai:<model>@<base url>                 any OpenAI-compatible endpoint, e.g. openai:llama3.1@http://ollama:11434/v1
"""

from __future__ import annotations

from dataclasses import dataclass

from opentelemetry.trace import TracerProvider

from agent.errors import ConfigurationError
from agent.models.base import Model
from agent.telemetry import Telemetry


@dataclass(frozen=True, slots=True)
class Credentials:
    anthropic_api_key: str | None = None
    anthropic_base_url: str | None = None
    openai_api_key: str | None = None
    timeout_s: float = 30.0
    max_retries: int = 2


def build_model(spec: str, credentials: Credentials, *, tracer_provider: TracerProvider | None = None) -> Model:
    provider, _, name = spec.strip().partition(":")
    if provider == "offline":
        from agent.models.offline import OfflineModel

        return OfflineModel()
    if provider == "anthropic":
        if not name:
            raise ConfigurationError("use anthropic:<model id>, e.g. anthropic:claude-sonnet-4-6")
        if not credentials.anthropic_api_key:
            raise ConfigurationError("an Anthropic model needs ANTHROPIC_API_KEY")
        from agent.models.anthropic_model import AnthropicModel

        return AnthropicModel(
            name,
            api_key=credentials.anthropic_api_key,
            base_url=credentials.anthropic_base_url,
            timeout_s=credentials.timeout_s,
            max_retries=credentials.max_retries,
            tracer_provider=tracer_provider,
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


def build_chain(primary: str, fallbacks: str, credentials: Credentials, *, telemetry: Telemetry | None = None) -> Model:
    """The primary model alone, or a fallback chain. A remote primary always ends in the offline model."""
    specs = [primary, *(s for s in fallbacks.split(",") if s.strip())]
    if specs[-1].strip() != "offline" and primary.strip() != "offline":
        specs.append("offline")
    provider = telemetry.tracer_provider if telemetry else None
    models = [build_model(spec, credentials, tracer_provider=provider) for spec in specs]
    if len(models) == 1:
        return models[0]
    from agent.models.fallback import FallbackChain

    return FallbackChain(models, telemetry=telemetry)
