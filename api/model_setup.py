"""The models and prompt versions the settings name: checked before the service starts, then built.

The default route's models are SUPPORT_MODEL with SUPPORT_MODEL_FALLBACKS, or the `default=` route of
SUPPORT_MODEL_ROUTES (naming it in both is refused); its chain ends in the offline model. The simple route's are
the `simple=` route, a chain of its own whose fallback is the default route (`agent.routing.routes`). Every Claude
model of
either route is checked against the model table with the thinking and token settings (`check_models`), so a
misspelt id or an impossible limit on the cheaper model stops `support serve` before the database is touched,
exactly as it does on the default one.
"""

from __future__ import annotations

import logging
from functools import partial

from agent import (
    ClaudeOptions,
    ConfigurationError,
    Credentials,
    Model,
    ModelHealth,
    ModelRoutes,
    PromptVersions,
    Telemetry,
    build_chain,
    build_model,
    build_simple_route,
    check_models,
    parse_routes,
)
from api.settings import Settings, secret
from tools import registry

log = logging.getLogger(__name__)


def claude_options(settings: Settings) -> ClaudeOptions:
    return ClaudeOptions(
        thinking=settings.thinking,
        answer_tokens=settings.max_output_tokens,
        context_tokens=settings.context_tokens,
    )


def credentials(settings: Settings) -> Credentials:
    return Credentials(
        anthropic_api_key=secret(settings.anthropic_api_key),
        anthropic_base_url=settings.anthropic_base_url,
        openai_api_key=secret(settings.openai_api_key),
        timeout_s=settings.model_timeout_s,
        max_retries=settings.model_max_retries,
    )


def route_models(settings: Settings) -> tuple[tuple[str, ...], tuple[str, ...] | None]:
    """Each route's models, first to last: the default route's (before the offline model the chain adds), and the
    simple route's (None without routing)."""
    specs = parse_routes(settings.model_routes)
    if specs.default is not None and (settings.model is not None or settings.model_fallbacks.strip()):
        raise ConfigurationError(
            "the default model is named twice: set SUPPORT_MODEL (and SUPPORT_MODEL_FALLBACKS) or the default= "
            "route of SUPPORT_MODEL_ROUTES, not both"
        )
    fallbacks = tuple(spec.strip() for spec in settings.model_fallbacks.split(",") if spec.strip())
    return specs.default or (settings.model_spec, *fallbacks), specs.simple


def check_route_models(settings: Settings) -> None:
    """Every model of every route, checked against the model table before anything is built (`support serve`)."""
    default, simple = route_models(settings)
    options = claude_options(settings)
    named = parse_routes(settings.model_routes).default is not None
    check_models(default, options, setting="SUPPORT_MODEL_ROUTES (the default route)" if named else None)
    if simple is not None:
        check_models(simple, options, setting="SUPPORT_MODEL_ROUTES (the simple route)")


def build_routes(
    settings: Settings, telemetry: Telemetry, *, model: Model | None = None, simple_model: Model | None = None
) -> ModelRoutes:
    """The models of the routes: the default route's chain (ending in the offline model), and the simple route's,
    when one is named, both reporting to one model health. A model given here replaces its route's configured
    one (tests, evaluations)."""
    default, simple = route_models(settings)
    known, options = credentials(settings), claude_options(settings)
    health = ModelHealth(telemetry)
    if model is None:
        model = build_chain(
            default[0], ",".join(default[1:]), known, telemetry=telemetry, claude=options, health=health
        )
    else:
        health = getattr(model, "health", None) or health
    if simple_model is None and simple is not None:
        make = partial(build_model, credentials=known, tracer_provider=telemetry.tracer_provider, claude=options)
        simple_model = build_simple_route(simple, make, telemetry, health)
    reads = frozenset(spec.name for spec in registry if not spec.writes)
    routes = ModelRoutes(default=model, simple=simple_model, read_tools=reads, telemetry=telemetry, health=health)
    log.info("%s", routes.describe())
    return routes


def load_prompt_versions(settings: Settings) -> PromptVersions:
    prompts = PromptVersions.load(
        registry, directory=settings.prompts_dir, live=settings.prompt_version, canary=settings.prompt_canary
    )
    log.info("%s", prompts.describe())
    return prompts
