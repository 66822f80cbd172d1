"""One table of Claude models, checked at start-up: a model id the API does not know, a thinking setting the model
refuses, or a limit it cannot meet stops the service with what to change, instead of starting a "healthy" service
whose every turn the API refuses and the offline model answers."""

from __future__ import annotations

import argparse
from typing import Any

import pytest

from agent.errors import ConfigurationError
from agent.models.claude.catalog import ADAPTIVE_ROOM, CATALOG, parse_thinking, plan
from agent.models.selection import ClaudeOptions, check_chain
from cli import main as cli
from testkit.fakes.claude_models import MODELS
from testkit.service import running_service


def test_the_table_agrees_with_the_fake_apis_facts() -> None:
    """Two tables written apart, from the same documentation: the service's and the stand-in's. A difference is a
    mistake in one of them."""
    assert set(CATALOG) <= set(MODELS)
    for model_id, ours in CATALOG.items():
        theirs = MODELS[model_id]
        assert (ours.context_window, ours.max_output) == (theirs.context_window, theirs.max_output), model_id
        assert ours.thinks_by_default == theirs.thinks_by_default, model_id
        assert ours.prefill == theirs.prefill, model_id
        assert ours.thinking_types == theirs.accepts, model_id


REFUSED: list[tuple[str, dict[str, Any], str]] = [
    ("misspelt-id", {"model": "claude-sonnet-4.6"}, "unknown Claude model 'claude-sonnet-4.6'"),
    ("output-over-the-models-limit", {"model": "claude-haiku-4-5", "answer_tokens": 100_000}, r"can write \(64000"),
    ("off-on-a-model-that-always-thinks", {"model": "claude-opus-5-5", "thinking": "off"}, "always thinks"),
    ("adaptive-on-a-budget-model", {"model": "claude-haiku-4-5", "thinking": "adaptive"}, "adaptive thinking"),
    ("budget-on-an-adaptive-model", {"model": "claude-sonnet-5", "thinking": "4096"}, "takes no thinking budget"),
    ("budget-under-the-minimum", {"model": "claude-sonnet-4-6", "thinking": "512"}, "at least 1024"),
    ("budget-over-the-output-limit", {"model": "claude-haiku-4-5", "thinking": "64000"}, "writes at most 64000"),
    ("not-a-thinking-setting", {"model": "claude-sonnet-4-6", "thinking": "sometimes"}, "use off, adaptive"),
    ("history-over-the-window", {"model": "claude-haiku-4-5", "context_tokens": 199_500}, "context window"),
]


@pytest.mark.parametrize(("given", "says"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_settings_the_api_would_refuse_stop_the_start_up(given: dict[str, Any], says: str) -> None:
    model = given.pop("model")
    with pytest.raises(ConfigurationError, match=says):
        check_chain(f"anthropic:{model}", "", ClaudeOptions(**given))


def test_a_misspelt_id_is_answered_with_the_one_meant() -> None:
    with pytest.raises(ConfigurationError, match="Did you mean claude-sonnet-4-6"):
        check_chain("anthropic:claude-sonnet-4.6", "", ClaudeOptions())


def test_each_model_gets_its_own_thinking_and_room_for_it() -> None:
    sonnet5 = plan("claude-sonnet-5", None, 1024)
    assert (sonnet5.thinking, sonnet5.thinks, sonnet5.room) == (None, True, ADAPTIVE_ROOM)  # thinks by default
    sonnet46 = plan("claude-sonnet-4-6", None, 1024)
    assert (sonnet46.thinking, sonnet46.thinks, sonnet46.room) == (None, False, 0)
    assert plan("claude-sonnet-4-6", "adaptive", 1024).thinking == {"type": "adaptive"}
    budget = plan("claude-haiku-4-5", parse_thinking("4096"), 1024)
    assert (budget.thinking, budget.room) == ({"type": "enabled", "budget_tokens": 4096}, 4096)
    assert plan("claude-sonnet-5-5", "off", 1024).thinking == {"type": "between_tools"}
    assert plan("claude-sonnet-5", "off", 1024).thinking == {"type": "disabled"}
    # adaptive room is trimmed to what the model can write rather than refused
    assert plan("claude-haiku-5-5", None, 125_000).room == 128_000 - 125_000


def test_support_serve_refuses_to_start_on_a_misspelt_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPPORT_MODEL", "anthropic:claude-sonnet-4.6")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    with pytest.raises(SystemExit) as stopped:
        cli.serve(argparse.Namespace(host="127.0.0.1", port=0, workers=1))
    assert "support serve: unknown Claude model 'claude-sonnet-4.6'" in str(stopped.value)


def test_support_serve_refuses_an_output_limit_the_model_cannot_meet(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPPORT_MODEL", "anthropic:claude-haiku-4-5")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    monkeypatch.setenv("SUPPORT_MAX_OUTPUT_TOKENS", "100000")
    with pytest.raises(SystemExit, match="SUPPORT_MAX_OUTPUT_TOKENS=100000 is more than claude-haiku-4-5 can write"):
        cli.serve(argparse.Namespace(host="127.0.0.1", port=0, workers=1))


async def test_the_service_itself_will_not_start_on_a_setting_the_api_refuses(sqlite_url: str) -> None:
    settings = {"SUPPORT_MODEL": "anthropic:claude-opus-5-5", "ANTHROPIC_API_KEY": "k", "SUPPORT_THINKING": "off"}
    with pytest.raises(ConfigurationError, match="claude-opus-5-5 always thinks"):
        async with running_service(sqlite_url, **settings):
            pass
