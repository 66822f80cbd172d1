"""Personal data kept out of traces. When message content is recorded on spans, it passes through a `Masker`:

- fields that are personal by name (address lines, city, zip, email, names, card digits) are blanked;
- emails, phone numbers and payment method ids are masked wherever they appear in text;
- the customer's own name, email and addresses, as the store holds them, are masked wherever they appear in free
  text, e.g. "please ship it to 12 Elm Street" in a message, or the model repeating the customer's name.

The customer's terms are looked up once per run (only when content is recorded) and held in a context variable
for that run's task, so every span of the run masks them without the loop passing them around.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from contextvars import ContextVar
from typing import Any

from sqlmodel import col, select

from basics.database import Database
from tools.store.tables import Customer, Order

MASKED = "***"
_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
"""An email address. The look-behind starts a match only where a run of address characters starts: without it,
a long run with no `@` was scanned again from each of its characters (8 KB of letters: about 0.2 s of CPU)."""
_PAYMENT_ID = re.compile(r"\b(gift_card|credit_card|paypal)_\d+\b")
# A run of 7 to 15 digits, optionally with a leading + and separators: phone numbers. Order ids (#W1234567)
# have a letter in front; item ids are 10 bare digits and would match, so a phone needs a separator or a +.
_PHONE = re.compile(r"(?<![\w#])\+?\d{1,3}(?:[ .\-()]+\d{2,4}){2,5}(?!\w)")
_SENSITIVE_KEYS = frozenset({"address1", "address2", "city", "zip", "email", "last_four", "first_name", "last_name"})
_MIN_TERM = 3  # shorter values ("NY", a one-letter middle name) would mask ordinary words


class Masker:
    def __init__(self, terms: Iterable[str] = ()) -> None:
        usable = sorted({t.strip() for t in terms if len(t.strip()) >= _MIN_TERM}, key=len, reverse=True)
        # longest first, so "12 Elm Street" is masked whole rather than leaving "12  Street" around "Elm"
        self._terms = re.compile("|".join(rf"\b{re.escape(t)}\b" for t in usable), re.IGNORECASE) if usable else None

    def __call__(self, value: Any) -> Any:
        """A copy of `value` fit for a trace."""
        if isinstance(value, dict):
            return {self(k): MASKED if k in _SENSITIVE_KEYS else self(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self(v) for v in value]
        if isinstance(value, str):
            return self._text(value)
        return value

    def _text(self, text: str) -> str:
        text = _EMAIL.sub("***@***", text)
        text = _PAYMENT_ID.sub(lambda m: f"{m.group(1)}_***", text)
        text = _PHONE.sub(MASKED, text)
        return self._terms.sub(MASKED, text) if self._terms is not None else text


GENERIC = Masker()
current: ContextVar[Masker] = ContextVar("support_masker", default=GENERIC)


def address_terms(address: Mapping[str, Any] | None) -> list[str]:
    if not address:
        return []
    return [str(address.get(key) or "") for key in ("address1", "address2", "city", "zip")]


async def customer_terms(database: Database, customer_id: str) -> list[str]:
    """The customer's personal strings as the store holds them: names, email, profile and shipping addresses."""
    async with database.session() as session:
        customer = await session.get(Customer, customer_id)
        if customer is None:
            return []
        shipped = await session.exec(select(Order.address).where(col(Order.customer_id) == customer_id))
        terms = [customer.first_name, customer.last_name, f"{customer.first_name} {customer.last_name}"]
        terms += [customer.email, *address_terms(customer.address)]
        for address in shipped.all():
            terms += address_terms(address)
        return terms


def mask(value: Any) -> Any:
    """`value` masked for a trace, with the personal data of the current run's customer if it is known."""
    return current.get()(value)


CAPTURE_CONTENT_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
"""Message content is recorded on spans only when this is true (the GenAI conventions' switch), and masked."""


def capture_content_from_env() -> bool:
    return os.environ.get(CAPTURE_CONTENT_ENV, "").strip().lower() in ("1", "true", "yes")
