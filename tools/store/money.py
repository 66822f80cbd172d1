"""Money as integer cents.

Every amount the store keeps is an `int` number of cents, so a thousand refunds add up to exactly what the
ledger says. Dollars appear only at the edges: parsing what a model or a fixture says, and printing for the
model and the customer.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

CENT = Decimal("0.01")


class AmountError(ValueError):
    """The value is not a finite amount of money."""


def to_cents(value: Decimal | float | int | str) -> int:
    """Dollars (as the fixtures and tool arguments say them) to cents, rounded half-up to the cent.

    Floats go through their shortest decimal repr, so `47.84` is 4784 cents and not 4783.
    """
    try:
        dollars = Decimal(str(value)) if not isinstance(value, Decimal) else value
    except (InvalidOperation, ValueError) as exc:
        raise AmountError(f"not an amount: {value!r}") from exc
    if not dollars.is_finite():
        raise AmountError(f"not a finite amount: {value!r}")
    return int((dollars / CENT).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def to_dollars(cents: int) -> float:
    """Cents to the dollar number the store data uses in JSON (two decimals)."""
    return float(Decimal(cents) * CENT)


def format_usd(cents: int) -> str:
    """A human-readable amount, e.g. `$1,234.50` or `-$3.00`."""
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(cents), 100)
    return f"{sign}${whole:,}.{frac:02d}"
