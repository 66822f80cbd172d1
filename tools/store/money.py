"""Money as integer cents.

Every amount the store keeps is an `int` number of cents, so a thousand refunds add up to exactly what the
ledger says. Dollars appear only at the edges: parsing what a model or a fixture says, and printing for the
model and the customer.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
MAX_DIGITS = 20
"""Longer numbers are no amount of money anyone means; this also keeps cents within Decimal's 28-digit precision."""

_ASCII_DECIMAL = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")


class AmountError(ValueError):
    """The value is not a finite amount of money."""


def parse_amount(value: object) -> Decimal:
    """An amount as a Decimal, from a JSON number or a string in plain ASCII decimal notation (`12`, `12.50`).

    Python's own `Decimal()` and `int()` are more generous than money should be: they take full-width and
    Arabic-Indic digits (`"１０"`, `"٧"`), surrounding spaces, a `+` sign, `_` digit separators, exponents and
    NaN/Infinity. A model or a customer writing any of those is far more likely confused (or probing) than
    precise, so they are refused with a message the model can act on. Booleans are refused although Python
    counts them as integers.
    """
    if isinstance(value, bool) or not isinstance(value, Decimal | float | int | str):
        raise AmountError(f"an amount must be a number such as 12.50, not {type(value).__name__}")
    if isinstance(value, str):
        if not _ASCII_DECIMAL.fullmatch(value):
            raise AmountError(f"write an amount as plain digits and a decimal point, e.g. 12.50; not {value[:40]!r}")
        dollars = Decimal(value)
    elif isinstance(value, float):
        dollars = Decimal(str(value))
    else:
        dollars = Decimal(value)
    if not dollars.is_finite():
        raise AmountError(f"an amount must be a finite number, not {value!r}")
    if len(dollars.as_tuple().digits) > MAX_DIGITS or abs(dollars.adjusted()) > MAX_DIGITS:
        raise AmountError(f"an amount must have at most {MAX_DIGITS} digits")
    return dollars


def to_cents(value: Decimal | float | int | str) -> int:
    """Dollars (as the fixtures, the policy file and tool arguments say them) to cents, rounded half-up to the
    cent. Strings must be plain ASCII decimals (see `parse_amount`).

    Floats go through their shortest decimal repr, so `47.84` is 4784 cents and not 4783.
    """
    return int((parse_amount(value) / CENT).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def to_dollars(cents: int) -> float:
    """Cents to the dollar number the store data uses in JSON (two decimals)."""
    return float(Decimal(cents) * CENT)


def format_usd(cents: int) -> str:
    """A human-readable amount, e.g. `$1,234.50` or `-$3.00`."""
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(cents), 100)
    return f"{sign}${whole:,}.{frac:02d}"
