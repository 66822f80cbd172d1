"""Choosing the model from configuration: `offline` or `anthropic:<model id>`."""

from __future__ import annotations

from opentelemetry.trace import TracerProvider

from agent.errors import ConfigurationError
from agent.models.base import Model


def build_model(
    spec: str,
    *,
    api_key: str | None = None,
    base_url: str | None = None,
    timeout_s: float = 30.0,
    max_retries: int = 2,
    tracer_provider: TracerProvider | None = None,
) -> Model:
    provider, _, name = spec.partition(":")
    if provider == "offline":
        from agent.models.offline import OfflineModel

        return OfflineModel()
    if provider == "anthropic":
        if not name:
            raise ConfigurationError("SUPPORT_MODEL=anthropic:<model id>, e.g. anthropic:claude-sonnet-4-5")
        if not api_key:
            raise ConfigurationError("an Anthropic model needs ANTHROPIC_API_KEY")
        from agent.models.anthropic_model import AnthropicModel

        return AnthropicModel(
            name,
            api_key=api_key,
            base_url=base_url,
            timeout_s=timeout_s,
            max_retries=max_retries,
            tracer_provider=tracer_provider,
        )
    raise ConfigurationError(f"unknown model {spec!r}: use 'offline' or 'anthropic:<model id>'")
