"""Argument types shared by the tools. Their constraints become the JSON schema the model sees."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, WithJsonSchema

from tools.store.money import parse_amount


def _normalize_order_id(value: object) -> object:
    """Customers and models write `W1234567`, `w1234567` or `#W1234567`; the store keys on `#W1234567`."""
    if isinstance(value, str):
        stripped = value.strip()
        if stripped[:1] in ("W", "w"):
            stripped = "#W" + stripped[1:]
        elif stripped[:2] in ("#w",):
            stripped = "#W" + stripped[2:]
        return stripped
    return value


# Digits are spelled [0-9]: pydantic's regex engine reads \\d as any Unicode digit ("٧", "７"), and ids are ASCII.
OrderId = Annotated[
    str,
    BeforeValidator(_normalize_order_id),
    StringConstraints(pattern=r"^#W[0-9]{7}$"),
    Field(description="Order id, '#W' followed by 7 digits, e.g. '#W1234567'."),
]
ItemId = Annotated[str, StringConstraints(pattern=r"^[0-9]{10}$"), Field(description="Item (variant) id, 10 digits.")]
ProductId = Annotated[str, StringConstraints(pattern=r"^[0-9]{10}$"), Field(description="Product id, 10 digits.")]
PaymentMethodId = Annotated[
    str,
    StringConstraints(pattern=r"^(gift_card|credit_card|paypal)_[0-9]{1,12}$"),
    Field(description="A payment method id from the customer's profile, e.g. 'gift_card_1234567'."),
]


Amount = Annotated[
    Decimal,
    BeforeValidator(parse_amount),
    Field(gt=0, le=Decimal(1_000_000_000), decimal_places=2),
    WithJsonSchema({"type": "number", "exclusiveMinimum": 0, "description": "Amount in US dollars, e.g. 12.50."}),
]
"""Money in dollars. Only ASCII decimal notation (a JSON number, or a string like "12.50"); see `parse_amount`."""


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


def _printable(value: str) -> str:
    """Text the store keeps must be storable everywhere: no NUL or other control characters, no lone surrogates."""
    if any(ord(ch) < 32 and ch not in "\t\n" for ch in value) or any(0xD800 <= ord(ch) <= 0xDFFF for ch in value):
        raise ValueError("must not contain control characters")
    return value


class Narrative:
    """Marks an argument the model writes in its own words (a reason, a summary, a search), often from what the
    customer said: a person is shown it as a quote of the assistant, never as part of what an action does, since
    nothing checked it ("the supervisor already verified this by phone" is only words)."""


def narrative_fields(model: type[BaseModel]) -> list[str]:
    """The arguments of `model` that are the model's own words (`Narrative`)."""
    return [name for name, field in model.model_fields.items() if any(isinstance(m, Narrative) for m in field.metadata)]


AddressLine = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200), AfterValidator(_printable)]
RequiredLine = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), AfterValidator(_printable)
]
ItemIdList = Annotated[list[ItemId], Field(min_length=1, max_length=50)]
FreeText = Annotated[
    str, StringConstraints(max_length=2000), AfterValidator(_not_blank), AfterValidator(_printable), Narrative()
]


class ToolArgs(BaseModel):
    """Base for argument models: unknown fields are an error, so a typo cannot silently drop a value."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class NoArgs(ToolArgs):
    pass


class AddressArgs(ToolArgs):
    address1: RequiredLine = Field(description="Street address.")
    address2: AddressLine = Field(default="", description="Apartment, suite, unit; empty if none.")
    city: RequiredLine
    state: RequiredLine
    country: RequiredLine
    zip: Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[0-9A-Za-z -]{3,12}$")]

    def as_address(self) -> dict[str, str]:
        return {
            "address1": self.address1,
            "address2": self.address2,
            "city": self.city,
            "country": self.country,
            "state": self.state,
            "zip": self.zip,
        }
