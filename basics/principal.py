"""Who is acting: a customer or a staff member, as the bearer token said. Every layer passes this one type."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Role = Literal["customer", "agent", "supervisor"]
STAFF_ROLES: tuple[Role, ...] = ("agent", "supervisor")


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller: a customer (`id` is their store `user_id`) or a staff member."""

    id: str
    role: Role

    @property
    def is_customer(self) -> bool:
        return self.role == "customer"

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES

    @classmethod
    def customer(cls, user_id: str) -> Principal:
        return cls(id=user_id, role="customer")
