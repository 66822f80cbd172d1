"""The price table the operator chose: the built-in `agent/limits/prices.toml`, or `SUPPORT_PRICES_FILE`, plus the
models declared free (`SUPPORT_FREE_MODELS`). A table that cannot be read stops the start-up with one clear line
rather than pricing every call at a guess."""

from __future__ import annotations

import tomllib
from decimal import InvalidOperation

from agent import PRICE_FILE, PriceTable
from api.errors import ConfigurationError
from api.settings import Settings


def load_prices(settings: Settings) -> PriceTable:
    path = settings.prices_file or PRICE_FILE
    try:
        table = PriceTable.load(path)
    except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError, ValueError, InvalidOperation) as error:
        raise ConfigurationError(f"SUPPORT_PRICES_FILE {path} is not a usable price table: {error!r}") from error
    return table.with_free([name.strip() for name in settings.free_models.split(",")])
