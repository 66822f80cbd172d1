"""The store session a tool works in, and the principal it acts for. Tools get this object; they never read globals."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from basics.clock import utcnow
from basics.principal import Principal


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
