"""Every table of the service, imported in one place so the metadata (and the migrations) see all of them."""

from __future__ import annotations

from sqlmodel import SQLModel

from agent import (
    Approval,
    ChatAllowance,
    ChatMessage,
    Conversation,
    ConversationEvent,
    DeskLinkUse,
    DeskSessionRecord,
    Feedback,
    Handoff,
    IdempotentRequest,
    Run,
    RunFlag,
    SpendDay,
    Step,
    Worker,
)
from policies.audit import PolicyDecisionRecord
from tools.knowledge.tables import KbArticle, KbPassage, KbState
from tools.store.loader import SeedMarker
from tools.store.locks import LimitLock
from tools.store.tables import Customer, LedgerEntry, Order, PaymentMethod, Product, Variant

metadata = SQLModel.metadata


__all__ = [
    "Approval",
    "ChatAllowance",
    "ChatMessage",
    "Conversation",
    "ConversationEvent",
    "Customer",
    "DeskLinkUse",
    "DeskSessionRecord",
    "Feedback",
    "Handoff",
    "IdempotentRequest",
    "KbArticle",
    "KbPassage",
    "KbState",
    "LedgerEntry",
    "LimitLock",
    "Order",
    "PaymentMethod",
    "PolicyDecisionRecord",
    "Product",
    "Run",
    "RunFlag",
    "SeedMarker",
    "SpendDay",
    "Step",
    "Variant",
    "Worker",
    "metadata",
]
