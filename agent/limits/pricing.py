"""What a model call costs, in exact micro-dollars, from the price table in `prices.toml`."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from agent.models.base import Usage

PRICE_FILE = Path(__file__).with_name("prices.toml")
MICRO = Decimal(1_000_000)


@dataclass(frozen=True, slots=True)
class Price:
    """US dollars per million tokens."""

    input: Decimal
    output: Decimal
    cache_write: Decimal
    cache_read: Decimal

    def cost_micro_usd(self, usage: Usage) -> int:
        # dollars per million tokens * tokens = micro-dollars
        total = (
            self.input * usage.input_tokens
            + self.output * usage.output_tokens
            + self.cache_write * usage.cache_creation_input_tokens
            + self.cache_read * usage.cache_read_input_tokens
        )
        return int(total.quantize(Decimal(1), rounding=ROUND_HALF_UP))


class PriceTable:
    def __init__(self, prices: dict[str, Price]) -> None:
        if "unknown" not in prices:
            raise ValueError("the price table needs an `unknown` row")
        self._prices = prices

    @classmethod
    def load(cls, path: Path = PRICE_FILE) -> PriceTable:
        with path.open("rb") as handle:
            rows = tomllib.load(handle)["models"]
        return cls({name: Price(**{k: Decimal(str(v)) for k, v in row.items()}) for name, row in rows.items()})

    def with_free(self, prefixes: list[str]) -> PriceTable:
        """This table with models matching `prefixes` priced at zero: a self-hosted model costs no API money, and
        pricing it at the `unknown` rate would use up the daily budgets for nothing."""
        free = Price(Decimal(0), Decimal(0), Decimal(0), Decimal(0))
        return PriceTable({**self._prices, **{prefix: free for prefix in prefixes if prefix}})

    def price_for(self, model: str) -> Price:
        matches = [prefix for prefix in self._prices if prefix != "unknown" and model.startswith(prefix)]
        return self._prices[max(matches, key=len)] if matches else self._prices["unknown"]

    def cost_micro_usd(self, model: str, usage: Usage) -> int:
        return self.price_for(model).cost_micro_usd(usage)


def micro_to_usd(micro: int) -> float:
    return float(Decimal(micro) / MICRO)
