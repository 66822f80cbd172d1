"""Who is acting, and the store session a tool works in. Tools get this object; they never read globals."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from sqlmodel.ext.asyncio.session import AsyncSession

Role = Literal["customer", "agent", "supervisor"]
STAFF_ROLES: tuple[Role, ...] = ("agent", "supervisor")


def utcnow() -> datetime:
    return datetime.now(UTC)


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


@dataclass(slots=True)
class ToolContext:
    """What a tool may touch: the customer it acts for and one store session.

    `idempotency_key` names this execution; a write that already ran under the same key is not run again.
    """

    principal: Principal
    session: AsyncSession
    idempotency_key: str | None = None
    now: datetime = field(default_factory=utcnow)
    knowledge: object | None = None
    """The help centre's configured search (`tools.knowledge.search.HelpCentre`), for `search_help_centre`."""

    @property
    def customer_id(self) -> str:
        if not self.principal.is_customer:
            raise PermissionError("store tools act for a customer principal only")
        return self.principal.id
