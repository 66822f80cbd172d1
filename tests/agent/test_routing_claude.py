"""Routing between two Claude models, through the chat API, the real SDK and the strict fake Messages API: a turn
that moves from the simple model to the default one mid tool loop sends only requests the API accepts (thinking
blocks included), and the simple model's refused requests are reported like the default model's (ERROR log,
`support.model.rejected`, degraded health) while the default model answers the turn. Every Claude model of every
route is checked at start-up."""

from __future__ import annotations

import argparse
import logging
from typing import Any

import pytest

from agent.errors import ConfigurationError
from agent.models.circuit import CircuitBreaker
from agent.models.fallback import FallbackChain
from agent.models.health import ModelHealth
from agent.models.scripted import ScriptedModel
from api.model_setup import check_route_models
from api.settings import Settings
from cli import main as cli
from testkit.fakes.anthropic_api import FakeMessagesAPI, ToolUse, call, calls, http_error, prompt_too_long, say
from testkit.service import ServiceClient, anthropic_settings, running_service
from testkit.telemetry import recording

JAMES = "james_li_5688"
SIMPLE = "claude-haiku-4-5"
DEFAULT = "claude-sonnet-4-6"
ROUTES = f"simple=anthropic:{SIMPLE}"
REFUSAL = "tools.3.input_schema: Extra inputs are not permitted"


def routed(api: FakeMessagesAPI, simple: str = SIMPLE, default: str = DEFAULT) -> dict[str, Any]:
    """The default route on `default` (SUPPORT_MODEL, Claude Sonnet 4.6), the simple one on `simple` (Haiku 4.5)."""
    routes = {"SUPPORT_MODEL": f"anthropic:{default}", "SUPPORT_MODEL_ROUTES": f"simple=anthropic:{simple}"}
    return {**anthropic_settings(api.base_url), **routes}


def by_model(simple: str = SIMPLE) -> dict[str, Any]:
    """The fake's lanes: the simple model's requests get a script of their own."""
    return {"simple": lambda body: body.get("model") == simple}


async def ask(service: ServiceClient, conversation: str, text: str) -> dict[str, Any]:
    answered = await service.say(JAMES, conversation, text)
    assert answered.status_code == 200, answered.text
    run: dict[str, Any] = answered.json()["run"]
    return run


@pytest.mark.parametrize(
    ("simple", "default", "thinking", "thinks"),
    [
        (SIMPLE, DEFAULT, None, False),
        (SIMPLE, DEFAULT, "2048", True),
        ("claude-haiku-5-5", "claude-sonnet-5-5", None, True),  # both think by default, with preserved thinking
    ],
    ids=["4.x-no-thinking", "4.x-thinking-budget", "5.5-preserved-thinking"],
)
async def test_a_turn_moved_to_the_default_model_mid_tool_loop_sends_only_valid_requests(
    sqlite_url: str, simple: str, default: str, thinking: str | None, thinks: bool
) -> None:
    """The simple model looks the order up, then proposes a cancellation: set aside, and the default model
    continues the tool loop the simple one began (with the simple model's thinking block leading it when it
    thinks). The next lookup goes back to the simple model, whose history now holds the default model's answer.
    The strict fake refuses nothing."""
    with FakeMessagesAPI(lanes=by_model(simple)) as api:
        api.add(
            call("get_order_details", {"order_id": "#W2611340"}),
            calls(ToolUse("cancel_pending_order", {"order_id": "#W2611340", "reason": "no longer needed"})),
            say("Order #W4435622 was delivered."),
            lane="simple",
        )
        api.add(say("Order #W2611340 is processed; it has not shipped yet."))
        settings = routed(api, simple, default) | ({"SUPPORT_THINKING": thinking} if thinking else {})
        async with running_service(sqlite_url, **settings) as service:
            conversation = await service.new_conversation(JAMES)
            first = await ask(service, conversation, "Where is my order #W2611340?")
            second = await ask(service, conversation, "Where is my order #W4435622?")
        api.assert_done()  # no request the API would refuse, on either model
        sent = [(r.body["model"], r.body.get("thinking")) for r in api.requests]
        continued = api.requests[2].body
    assert (first["route"], first["model"]["name"]) == ("simple", default)
    assert first["route_escalation"].startswith("proposed_write: ") and first["status"] == "completed"
    assert (second["route"], second["model"]["name"], second["route_escalation"]) == ("simple", simple, None)
    assert [model for model, _ in sent] == [simple, simple, default, simple]
    expected = {"type": "enabled", "budget_tokens": 2048} if thinking else None
    assert all(param == expected for _, param in sent)
    # The default model was asked the conversation as it stood: the lookup and its result, not the proposed write.
    last_answer = continued["messages"][-2]["content"]
    assert [b["type"] for b in last_answer] == [*(["thinking"] if thinks else []), "tool_use"]
    assert "cancel_pending_order" not in str(continued["messages"])


async def test_the_simple_models_refused_request_is_reported_and_the_default_model_answers(
    sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with recording() as recorded, FakeMessagesAPI(lanes=by_model()) as api:
        api.add(http_error(400, REFUSAL), lane="simple")
        api.add(say("Order #W2611340 is processed."))
        async with running_service(sqlite_url, telemetry=recorded.telemetry, **routed(api)) as service:
            conversation = await service.new_conversation(JAMES)
            with caplog.at_level(logging.ERROR):
                run = await ask(service, conversation, "Where is my order #W2611340?")
            health = (await service.http.get("/healthz")).json()
        api.assert_done()
        points = recorded.points()
    assert (run["route"], run["model"]["name"], run["reply"]) == ("simple", DEFAULT, "Order #W2611340 is processed.")
    assert run["route_escalation"].startswith("failed: the simple model (fallback:anthropic:claude-haiku-4-5)")
    assert f"anthropic:{SIMPLE} refused the request: unknown_field (400)" in run["route_escalation"]
    refused = [r for r in caplog.records if r.name == "agent.models.health" and r.levelno == logging.ERROR]
    assert len(refused) == 1 and "unknown_field" in refused[0].getMessage()
    [counted] = points["support.model.rejected"]
    assert counted.attributes["gen_ai.request.model"] == SIMPLE and counted.value == 1
    assert health["model_health"]["status"] == "degraded"
    problems = {(p["reason"], p["model"]) for p in health["model_health"]["problems"]}
    assert ("rejected:unknown_field", f"anthropic:{SIMPLE}") in problems


async def test_a_prompt_too_long_for_the_simple_model_moves_the_turn_without_shortening_it(sqlite_url: str) -> None:
    """On the simple route a prompt too long is not shortened: the default model, whose window may take the
    whole history, is asked it as it is. The refusal is reported all the same."""
    with FakeMessagesAPI(lanes=by_model()) as api:
        api.add(say("#W2611340 is processed."), say("#W4435622 was delivered."), prompt_too_long(), lane="simple")
        api.add(say("Order #W2611340 is still processed."))
        async with running_service(sqlite_url, **routed(api)) as service:
            conversation = await service.new_conversation(JAMES)
            await ask(service, conversation, "Where is my order #W2611340?")
            await ask(service, conversation, "Where is my order #W4435622?")  # two turns: one could go
            run = await ask(service, conversation, "Where is my order #W2611340 now?")
            problems = {p.reason for p in service.services.loop.health.problems()}
        api.assert_done()
        refused, answered = api.requests[2].body, api.requests[3].body
    assert run["route_escalation"].startswith("refused: the simple model")
    assert run["model"]["name"] == DEFAULT and answered["model"] == DEFAULT
    assert answered["messages"] == refused["messages"]  # the whole history, not a shortened one
    assert "rejected:prompt_too_long" in problems


def test_open_circuits_of_both_routes_chains_show_in_the_one_health() -> None:
    health = ModelHealth()
    for route in ("simple", "default"):
        first = ScriptedModel()
        first.name = f"{route}-1"  # type: ignore[misc]
        broken = CircuitBreaker(failure_threshold=1)
        broken.record_failure()
        FallbackChain([first, ScriptedModel()], breakers=[broken, CircuitBreaker()], health=health)
    assert [(p.reason, p.model) for p in health.problems()] == [
        ("circuit_open", "scripted:simple-1"),
        ("circuit_open", "scripted:default-1"),
    ]


@pytest.mark.parametrize(
    ("settings", "said"),
    [
        (
            {"SUPPORT_MODEL_ROUTES": "simple=anthropic:claude-haiku-4.5"},
            r"SUPPORT_MODEL_ROUTES \(the simple route\): unknown Claude model 'claude-haiku-4.5'.* Did you mean "
            "claude-haiku-4-5",
        ),
        (
            {"SUPPORT_MODEL_ROUTES": ROUTES, "SUPPORT_MAX_OUTPUT_TOKENS": "100000"},
            r"\(the simple route\): SUPPORT_MAX_OUTPUT_TOKENS=100000 is more than claude-haiku-4-5 can write",
        ),
        (
            {"SUPPORT_MODEL_ROUTES": ROUTES, "SUPPORT_THINKING": "adaptive"},
            r"\(the simple route\): claude-haiku-4-5 does not take adaptive thinking",
        ),
        (
            {"SUPPORT_MODEL_ROUTES": f"{ROUTES}+anthropic:claude-sonet-4-6"},
            "unknown Claude model 'claude-sonet-4-6'",
        ),
        (
            {"SUPPORT_MODEL_ROUTES": f"{ROUTES},default=anthropic:claude-opus-9", "SUPPORT_MODEL": None},
            r"SUPPORT_MODEL_ROUTES \(the default route\): unknown Claude model 'claude-opus-9'",
        ),
        ({"SUPPORT_MODEL_ROUTES": "simple=claude:haiku"}, "unknown model 'claude:haiku'"),
    ],
)
def test_support_serve_checks_every_routes_models_before_the_database(
    monkeypatch: pytest.MonkeyPatch, settings: dict[str, str | None], said: str
) -> None:
    given = {"SUPPORT_MODEL": f"anthropic:{DEFAULT}", "ANTHROPIC_API_KEY": "test-key", **settings}
    for name, value in given.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError, match=said):
        check_route_models(Settings())
    with pytest.raises(SystemExit, match=f"support serve: .*{said}"):
        cli.serve(argparse.Namespace(host="127.0.0.1", port=0, workers=1))


def test_routes_the_model_table_knows_pass_the_start_up_check(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPPORT_MODEL_ROUTES", f"{ROUTES}+offline,default=anthropic:claude-opus-4-6")
    monkeypatch.setenv("SUPPORT_THINKING", "4096")
    check_route_models(Settings())
