"""Model routes: a cheaper model for the turns that only read, the capable one for everything else, and the move
from the first to the second within a turn.

`SUPPORT_MODEL_ROUTES=simple=anthropic:claude-haiku-4-5,default=anthropic:claude-sonnet-4-6` names each route's
model; `+` joins a route's own fallbacks (`simple=anthropic:claude-haiku-4-5+openai:llama3.1@http://ollama:11434/v1`).
Without `default=`, the default route is `SUPPORT_MODEL` with `SUPPORT_MODEL_FALLBACKS`, as without routing.

The router (`agent.routing.router`) picks the route before the first model call. On `simple`, the service acts on the
simple model's answer only when it reads: an answer that proposes a write (or a tool the service does not have),
that declines, is cut short or is empty, and a simple model that fails or whose request is refused, move the same
turn to `default`, which answers it from where it stood. The simple model's proposed calls are not run, its
words are not kept (streamed ones are withdrawn), and what it cost is counted in the run. The turn stays on
`default` to its end.

Each route has its own fallback chain. The default route's ends in the offline model, like every chain without
routing; the simple route's fallback is the default route itself, so the offline model stays the last link of
both.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from agent.errors import ConfigurationError, ModelError, ModelProtocolError, ModelRejected, ModelTimeout
from agent.models.base import Model, ModelResponse
from agent.models.health import ModelHealth
from agent.routing.router import DEFAULT, SIMPLE, Reason, RouteChoice
from agent.telemetry.recorder import Telemetry

log = logging.getLogger(__name__)

ROUTE_NAMES = (SIMPLE, DEFAULT)
MODEL_ESCALATED = "model_escalated"
"""`message.discard`'s reason when the simple model's streamed words are dropped for the default route's."""
ESCALATION_CHARS = 300
"""What a run keeps of why its turn moved to `default` (`runs.route_escalation`)."""


@dataclass(frozen=True, slots=True)
class RouteSpecs:
    """SUPPORT_MODEL_ROUTES as given: each route's models, first to last; None for a route not named."""

    simple: tuple[str, ...] | None = None
    default: tuple[str, ...] | None = None


def parse_routes(setting: str) -> RouteSpecs:
    """`simple=<model>[+<fallback>...],default=<model>[+<fallback>...]`; empty means no routing."""
    found: dict[str, tuple[str, ...]] = {}
    for part in (p.strip() for p in setting.split(",")):
        if not part:
            continue
        name, equals, chain = part.partition("=")
        name = name.strip()
        if not equals or name not in ROUTE_NAMES:
            raise ConfigurationError(
                f"SUPPORT_MODEL_ROUTES: {part!r} is not a route; use simple=<model>,default=<model> "
                "(e.g. simple=anthropic:claude-haiku-4-5,default=anthropic:claude-sonnet-4-6)"
            )
        if name in found:
            raise ConfigurationError(f"SUPPORT_MODEL_ROUTES names the {name} route twice")
        links = tuple(link.strip() for link in chain.split("+"))
        if not all(links):
            raise ConfigurationError(f"SUPPORT_MODEL_ROUTES: the {name} route needs a model, as in {name}=offline")
        found[name] = links
    return RouteSpecs(simple=found.get(SIMPLE), default=found.get(DEFAULT))


def build_simple_route(
    links: Iterable[str], make_model: Callable[[str], Model], telemetry: Telemetry, health: ModelHealth
) -> Model:
    """The simple route's chain: its models in order, each behind its own circuit breaker, and no offline link of
    its own (when they all fail, the turn goes to the default route). It reports refusals, fall-backs and open
    circuits to the service's one `health`, like the default route's chain."""
    from agent.models.fallback import FallbackChain

    return FallbackChain([make_model(spec) for spec in links], telemetry=telemetry, health=health)


class ModelRoutes:
    """The models of the routes. Without a simple model every turn goes to `default` (routing is off)."""

    def __init__(
        self,
        *,
        default: Model,
        simple: Model | None = None,
        read_tools: frozenset[str],
        telemetry: Telemetry,
        health: ModelHealth | None = None,
    ) -> None:
        self.default = default
        self.simple = simple
        self.read_tools = read_tools
        """Tools an answer of the simple model may call and still be acted on: the reads."""
        self.telemetry = telemetry
        self.health: ModelHealth = health or getattr(default, "health", None) or ModelHealth(telemetry)
        """Where refusals of our requests, fall-backs and open circuits are reported, for both routes' models."""

    @property
    def routing(self) -> bool:
        return self.simple is not None

    def turn(self, choice: RouteChoice) -> RoutedTurn:
        if self.simple is None:
            choice = RouteChoice(DEFAULT, Reason.ROUTING_OFF)
        return RoutedTurn(self, choice)

    def describe(self) -> str:
        """One line for the start-up log."""
        default = f"{self.default.provider}:{self.default.name}"
        if self.simple is None:
            return f"model {default} (no routing)"
        return f"routes: simple {self.simple.provider}:{self.simple.name}, default {default}"

    async def close(self) -> None:
        for model in (self.simple, self.default):
            closer = getattr(model, "close", None)
            if closer is not None:
                await closer()


def failure_kind(error: ModelError) -> str:
    """A model error as an escalation's kind, by its class (a subclass sorts with its parent): `refused` when the
    provider refused our request (a defect of ours, also reported by `agent.models.health`), `protocol_error` when
    its answer could not be read, `timed_out`, else `failed` (a chain of simple models reports `failed` when none
    could answer; its message says how each failed)."""
    if isinstance(error, ModelRejected):
        return "refused"
    if isinstance(error, ModelProtocolError):
        return "protocol_error"
    if isinstance(error, ModelTimeout):
        return "timed_out"
    return "failed"


class RoutedTurn:
    """One turn's route: the model it asks now, and whether (and why) it moved from `simple` to `default`."""

    def __init__(self, routes: ModelRoutes, choice: RouteChoice) -> None:
        self.routes = routes
        self.route = choice.route
        """Where the turn started."""
        self.reason = choice.reason
        self.escalation: str | None = None
        """Why the turn moved to `default`, once it has."""

    @property
    def on_simple(self) -> bool:
        return self.route == SIMPLE and self.escalation is None and self.routes.simple is not None

    @property
    def model(self) -> Model:
        simple = self.routes.simple
        return simple if self.on_simple and simple is not None else self.routes.default

    def labels(self) -> dict[str, str]:
        """The route a call goes to now, as span and metric attributes."""
        return {"support.route": SIMPLE if self.on_simple else DEFAULT}

    def refuse_answer(self, response: ModelResponse) -> bool:
        """Whether to set the simple model's answer aside and ask the default model instead; if so the turn
        moves to `default`. Answers of the default route are always taken."""
        if not self.on_simple:
            return False
        found = self._objection(response)
        if found is None:
            return False
        self._escalate(*found)
        return True

    def fail_over(self, error: ModelError) -> bool:
        """Whether a failed call moves the turn to `default` (it does on `simple`); the default route's failures
        are the run's."""
        if not self.on_simple:
            return False
        simple = self.model
        self._escalate(
            failure_kind(error), f"the simple model ({simple.provider}:{simple.name}) could not answer: {error}"
        )
        return True

    def _objection(self, response: ModelResponse) -> tuple[str, str] | None:
        who = f"the simple model ({response.provider or self.model.provider}:{response.model or self.model.name})"
        unread = [call.name for call in response.tool_uses if call.name not in self.routes.read_tools]
        if unread:
            return "proposed_write", f"{who} proposed {', '.join(dict.fromkeys(unread))}"
        if response.stop_reason == "pause_turn":
            return None  # a paused read: continued on the simple route (`agent.turn.answers`)
        if response.stop_reason == "refusal":
            return "declined", f"{who} declined to answer"
        if response.stop_reason in ("max_tokens", "model_context_window_exceeded"):
            return "cut_short", f"{who} was cut short ({response.stop_reason})"
        if not response.tool_uses and not response.text.strip():
            return "empty", f"{who} answered without words"
        return None

    def _escalate(self, reason: str, why: str) -> None:
        self.routes.telemetry.route_escalated(reason, why, self.labels())
        self.escalation = f"{reason}: {why}"[:ESCALATION_CHARS]
        if reason in ("failed", "refused", "protocol_error", "timed_out"):
            # The cheaper model is failing: the turn is answered, but at the default route's price.
            log.error("turn moved to the default route: %s", self.escalation)
        else:
            log.info("turn moved to the default route: %s", self.escalation)
