"""Typed response bodies shared by the staff-side routes (hand-offs, the desk), and the error body every route
declares in `/openapi.json`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from agent.tables import ChatMessage, Handoff


class ErrorDetail(BaseModel):
    code: str
    message: str
    field: str | None = None


class ErrorOut(BaseModel):
    error: ErrorDetail


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of a route: each status it can answer with, in the one error shape."""
    return {status: {"model": ErrorOut} for status in statuses}


class MessageOut(BaseModel):
    id: int | None = None
    """Increasing within a conversation: the order messages were stored in."""
    role: str
    """`customer`, `assistant`, or `agent` (a person of the support team, named by `author_id`)."""
    content: str
    created_at: datetime
    author_id: str | None = None

    @classmethod
    def of(cls, message: ChatMessage) -> MessageOut:
        return cls(
            id=message.id,
            role=message.role,
            content=message.content,
            created_at=message.created_at,
            author_id=message.author_id,
        )


class ConversationOut(BaseModel):
    id: str
    customer_id: str
    created_at: datetime


class HandoffOut(BaseModel):
    id: str
    status: str
    """`queued | claimed | closed`"""
    conversation_id: str
    customer_id: str
    reason: str
    summary: str
    run_id: str | None
    created_at: datetime
    claimed_by: str | None
    claimed_at: datetime | None
    closed_by: str | None
    closed_at: datetime | None
    outcome: str | None

    @classmethod
    def of(cls, handoff: Handoff) -> HandoffOut:
        return cls.model_validate(handoff, from_attributes=True)


class HandoffDetailOut(HandoffOut):
    conversation: list[MessageOut]


class StaffReplyOut(BaseModel):
    message: MessageOut
    handoff: HandoffOut
