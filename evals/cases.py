"""The golden case format, on pydantic-evals: one `Case` per conversation, one YAML file per dataset.

A case's inputs are the signed-in customer and their turns, in order. A turn is one of:

    - say: "Where is my order #W2611340?"       the customer writes a message
    - confirm: confirm                           the customer answers the pending confirmation (or `decline`)
    - staff: approve                             a support agent decides the pending approval: `approve`,
      note: "Checked the photos"                 `amend` (approve with changed `arguments`) or `reject`,
      arguments: {amount: 20}                    with a note; `role: supervisor` for the higher tier
      role: supervisor

What must hold is written as the case's evaluators (see `evals.evaluators`), e.g.

    evaluators:
    - ToolCalled: {tool: cancel_pending_order, arguments: {order_id: "#W6247578"}}
    - OrderState: {order_id: "#W6247578", status: cancelled}
    - ReplySays: {any_of: [cancelled]}

and the metadata says what the case is about (`covers`: the tools, outcomes and kinds of conversation it
exercises), so a coverage test can check the suite still covers every tool and every policy outcome.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_evals import Case, Dataset

from agent import Answer
from tools.data_files import DataFile

GOLDEN = DataFile("evals", "golden", "fixtures/evals")
GOLDEN_DIR = GOLDEN.path()
"""Where the datasets live: one YAML file per topic, all of them together the golden suite (and its baseline)."""

StaffAction = Literal["approve", "amend", "reject"]


class Turn(BaseModel):
    """One step of the conversation, taken by the customer or by a person of the support team."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    say: str | None = None
    """The customer writes this message."""
    confirm: Answer | None = None
    """The customer answers the confirmation the last run waits for."""
    staff: StaffAction | None = None
    """A support agent (or supervisor) decides the approval the last run waits for."""
    note: str = ""
    """The staff member's note; the customer is told about it."""
    arguments: dict[str, Any] | None = None
    """With `amend`: the arguments the action runs with instead (merged over the held ones)."""
    role: Literal["agent", "supervisor"] = "agent"

    @model_validator(mode="after")
    def _exactly_one_actor(self) -> Turn:
        taken = [name for name in ("say", "confirm", "staff") if getattr(self, name) is not None]
        if len(taken) != 1:
            raise ValueError(f"a turn is exactly one of say, confirm or staff; got {taken or 'none'}")
        if self.arguments is not None and self.staff != "amend":
            raise ValueError("arguments belong to a staff `amend` turn only")
        return self


class StoreSnapshot(BaseModel):
    """Store data a case needs, in the store data's field names (`fixtures/db.json`): written into the case's
    own copy of the store before it is played, over what the seed data holds for the same keys. A case the
    desk's review wrote carries the orders its conversation touched, as they were, so it replays the same way
    after the store's data has moved on."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    orders: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """Orders by order id, each as `order_id, user_id, address, items, status, fulfillments, payment_history`."""
    payment_methods: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """The customer's payment methods by id (`source, id`, and `brand, last_four` or `balance`)."""


class Conversation(BaseModel):
    """A case's inputs: who is signed in, and what happens, turn by turn."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    customer: str
    """The customer's `user_id` in the store (`fixtures/db.json`)."""
    store: StoreSnapshot | None = None
    """Store data the case needs beyond the seed data (or instead of it)."""
    turns: list[Turn] = Field(min_length=1)

    @model_validator(mode="after")
    def _orders_are_the_customers(self) -> Conversation:
        for order_id, order in (self.store.orders if self.store else {}).items():
            if order.get("order_id") != order_id or order.get("user_id") != self.customer:
                raise ValueError(f"store order {order_id} must have order_id {order_id} and user_id {self.customer}")
        return self


class CaseInfo(BaseModel):
    """A case's metadata: why it exists and what it covers."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    about: str = ""
    covers: list[str] = Field(default_factory=list)
    """Tags for coverage: tool names, policy outcomes (`allow`, `deny`, `needs_approval:agent`,
    `needs_approval:supervisor`, `confirm`, `decline`, `handoff`) and kinds (`multi_intent`, `follow_up`,
    `small_talk`, `anger`, `injection`, `non_english`, `help_centre`, `other_customer`)."""


GoldenCase = Case[Conversation, Any, CaseInfo]
GoldenDataset = Dataset[Conversation, Any, CaseInfo]


def dataset_files(directory: Path = GOLDEN_DIR) -> list[Path]:
    """The golden datasets, in a stable order."""
    return sorted(p for p in directory.glob("*.yaml") if not p.name.endswith("_schema.yaml"))
