"""The price table an operator sets: `SUPPORT_PRICES_FILE` replaces the built-in table, and
`SUPPORT_FREE_MODELS` declares a self-hosted model free, so it does not spend the daily budgets at the `unknown`
rate. Checked through the cost the chat API reports for a run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent.models.base import Usage
from agent.models.scripted import ScriptedModel, say
from api.errors import ConfigurationError
from testkit.service import running_service

JAMES = "james_li_5688"
MILLION_IN = Usage(input_tokens=1_000_000, output_tokens=0)  # the scripted model answers as "scripted-1"

PRICES = """
[models."scripted"]
input = "0.40"
output = "1.60"
cache_write = "0.50"
cache_read = "0.04"

[models.unknown]
input = "20.00"
output = "80.00"
cache_write = "25.00"
cache_read = "2.00"
"""


async def cost_of_one_turn(database_url: str, **settings: Any) -> float:
    async with running_service(database_url, ScriptedModel([say("Hello.", usage=MILLION_IN)]), **settings) as service:
        conversation = await service.new_conversation(JAMES)
        answer = await service.say(JAMES, conversation, "hi")
    assert answer.status_code == 200, answer.text
    cost: float = answer.json()["run"]["usage"]["cost_usd"]
    return cost


async def test_an_unlisted_model_costs_the_unknown_rate_by_default(sqlite_url: str) -> None:
    assert await cost_of_one_turn(sqlite_url) == pytest.approx(15.00)


async def test_a_prices_file_replaces_the_built_in_table(sqlite_url: str, tmp_path: Path) -> None:
    prices = tmp_path / "prices.toml"
    prices.write_text(PRICES)
    assert await cost_of_one_turn(sqlite_url, SUPPORT_PRICES_FILE=str(prices)) == pytest.approx(0.40)


async def test_a_self_hosted_model_declared_free_costs_nothing(sqlite_url: str) -> None:
    assert await cost_of_one_turn(sqlite_url, SUPPORT_FREE_MODELS="llama3.1, scripted") == 0


@pytest.mark.parametrize(
    "content",
    ["not toml at all [", '[models."x"]\ninput = "1"\n', '[models.unknown]\ninput = "cheap"\n'],
    ids=["not-toml", "no-unknown-row", "bad-number"],
)
async def test_an_unusable_prices_file_stops_the_start(sqlite_url: str, tmp_path: Path, content: str) -> None:
    prices = tmp_path / "prices.toml"
    prices.write_text(content)
    with pytest.raises(ConfigurationError, match="not a usable price table"):
        async with running_service(sqlite_url, SUPPORT_PRICES_FILE=str(prices)):
            pass


async def test_a_missing_prices_file_stops_the_start(sqlite_url: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="not a usable price table"):
        async with running_service(sqlite_url, SUPPORT_PRICES_FILE=str(tmp_path / "absent.toml")):
            pass
