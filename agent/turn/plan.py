"""What a turn is answered with, decided before its first model call: the route (and so the model) and the prompt
version. Both are recorded on the run, its spans and its metrics, so every answer says what produced it."""

from __future__ import annotations

from dataclasses import dataclass

from agent.conversations.store import AnsweredWith, ConversationSoFar
from agent.models.base import Message, ModelRequest
from agent.routing.prompt_versions import PromptVersion, PromptVersions
from agent.routing.router import TurnFacts, choose_route
from agent.routing.routes import ModelRoutes, RoutedTurn


@dataclass(slots=True)
class TurnPlan:
    route: RoutedTurn
    prompt: PromptVersion

    def labels(self) -> dict[str, str]:
        """A model or tool call's attributes: the route it is on now, the prompt version."""
        return {
            **self.route.labels(),
            "support.prompt.version": self.prompt.name,
            "support.prompt.id": self.prompt.id,
        }

    def run_labels(self) -> dict[str, str]:
        """The run span's: the route the turn started on and why, the prompt version."""
        return {
            "support.route": self.route.route,
            "support.route.reason": self.route.reason.value,
            "support.prompt.version": self.prompt.name,
            "support.prompt.id": self.prompt.id,
        }

    def request(
        self,
        messages: list[Message],
        *,
        max_tokens: int,
        conversation_id: str,
        deadline: float | None = None,
        shortened: bool = False,
    ) -> ModelRequest:
        """The next model call's request: the version's system prompt and tools (the same objects every turn, so
        the cached prefix stays byte-identical), the conversation so far."""
        return ModelRequest(
            system=self.prompt.system,
            tools=self.prompt.tools,
            messages=messages,
            max_tokens=max_tokens,
            conversation_id=conversation_id,
            deadline=deadline,
            shortened=shortened,
            labels=self.labels(),
        )

    def answered_with(self) -> AnsweredWith:
        return AnsweredWith(
            route=self.route.route,
            route_reason=self.route.reason.value,
            route_escalation=self.route.escalation,
            prompt_version=self.prompt.name,
            prompt_id=self.prompt.id,
        )


def plan_turn(
    routes: ModelRoutes,
    prompts: PromptVersions,
    *,
    conversation_id: str,
    message: str,
    so_far: ConversationSoFar | None,
    resumed: bool,
) -> TurnPlan:
    """The turn's route from its message and what the claim saw of the conversation (`so_far`: None when it saw
    nothing, which the router takes as not knowing whether a held call is open), and the conversation's prompt
    version."""
    facts = TurnFacts(message, so_far.open_held_call if so_far is not None else None, resumed=resumed)
    return TurnPlan(route=routes.turn(choose_route(facts)), prompt=prompts.for_conversation(conversation_id))
