"""The store session a tool works in, and the principal it acts for. Tools get this object; they never read globals."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from basics.clock import utcnow
from basics.principal import Principal

Reader = Callable[[Any, dict[str, Any]], Awaitable[list[Any]]]
"""Runs one reading statement outside the session and returns its rows (`basics.database.Database.read_alone`)."""


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
    read: Reader | None = None
    """For a tool that only reads: its lookups as rows, outside the session (on the database's direct path), which
    costs a third of an ORM load through the session. None: everything through the session."""

    @property
    def customer_id(self) -> str:
        if not self.principal.is_customer:
            raise PermissionError("store tools act for a customer principal only")
        return self.principal.id
