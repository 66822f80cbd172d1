"""The policy file: versioned limits as data. Rules read numbers from here; no limit is written in code."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tools.store.money import to_cents

DEFAULT_POLICY_FILE = Path(__file__).with_name("retail.toml")
ApproverRole = Literal["agent", "supervisor"]
ROLE_RANK: dict[str, int] = {"customer": 0, "agent": 1, "supervisor": 2}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _cents(value: object) -> int:
    if not isinstance(value, str | int):
        raise ValueError('write amounts as strings, e.g. "100.00", so they stay exact')
    cents = to_cents(value)
    if cents < 0:
        raise ValueError("amounts must not be negative")
    return cents


class Tier(_Strict):
    """Cents limits: run at once up to `auto`, agent approval up to `agent`, supervisor up to `supervisor`.

    `auto` and `agent` apply to what the customer receives on one order through this tier's tools over the
    policy's `[tier_window]` (this call included), not to one call: a cap split into small calls still reaches a
    person. `customer_auto` and `customer_agent` do the same for all the customer's orders together (unset: the
    same as `auto` and `agent`). A sum past the agent tier needs a supervisor; only one call's own amount is
    denied, above the hard cap (`supervisor`, or `agent` without it)."""

    auto: int
    agent: int
    supervisor: int | None = None
    customer_auto: int | None = None
    customer_agent: int | None = None

    @field_validator("auto", "agent", "supervisor", "customer_auto", "customer_agent", mode="before")
    @classmethod
    def _to_cents(cls, value: object) -> int | None:
        return None if value is None else _cents(value)

    @model_validator(mode="after")
    def _ordered(self) -> Tier:
        if not self.auto <= self.agent <= (self.supervisor if self.supervisor is not None else self.agent):
            raise ValueError("tier limits must rise: auto <= agent <= supervisor")
        if not self.total_auto <= self.total_agent:
            raise ValueError("customer tier limits must rise: customer_auto <= customer_agent")
        return self

    @property
    def total_auto(self) -> int:
        return self.auto if self.customer_auto is None else self.customer_auto

    @property
    def total_agent(self) -> int:
        return self.agent if self.customer_agent is None else self.customer_agent

    def limit_for(self, role: str) -> int:
        """The most a member of `role` may approve under this tier (0 for anyone who is not staff)."""
        if role == "supervisor":
            return self.supervisor if self.supervisor is not None else self.agent
        if role == "agent":
            return self.agent
        return 0


class Cumulative(_Strict):
    customer_refund_window_days: int = Field(gt=0)
    customer_refund_limit: int
    customer_refund_approver: ApproverRole
    store_daily_refund_budget: int
    store_daily_refund_approver: ApproverRole

    @field_validator("customer_refund_limit", "store_daily_refund_budget", mode="before")
    @classmethod
    def _to_cents(cls, value: object) -> int:
        return _cents(value)


class TierWindow(_Strict):
    """How far back the money tiers count what a customer received."""

    days: int = Field(gt=0)


class Rate(_Strict):
    customer_writes_per_hour: int = Field(gt=0)


class Approvals(_Strict):
    ttl_hours: float = Field(gt=0)


class Confirmations(_Strict):
    """Which write tools wait for the customer's own confirmation before they run. `"*"` names every tool that
    changes the store; an empty list asks for none (only for set-ups where no customer is present to answer)."""

    tools: list[str] = Field(default_factory=lambda: ["*"])
    ttl_minutes: float = Field(default=15, gt=0)

    def required_for(self, tool: str, *, writes: bool) -> bool:
        return writes and ("*" in self.tools or tool in self.tools)


class PolicyConfig(_Strict):
    version: str = Field(min_length=1)
    tiers: dict[str, Tier]
    tier_window: TierWindow
    cumulative: Cumulative
    rate: Rate
    approvals: Approvals
    confirmations: Confirmations = Field(default_factory=Confirmations)

    @model_validator(mode="after")
    def _has_default(self) -> PolicyConfig:
        if "default" not in self.tiers:
            raise ValueError("the policy needs a [tiers.default] table")
        return self

    def tier_for(self, tool: str) -> Tier:
        return self.tiers.get(tool, self.tiers["default"])

    def tier_name(self, tool: str) -> str:
        """The tier table `tool` falls under: its own, or `default`."""
        return tool if tool in self.tiers and tool != "default" else "default"

    def approver_limit(self, role: str, tool: str) -> int:
        return self.tier_for(tool).limit_for(role)


def load_policy(path: Path | str | None = None) -> PolicyConfig:
    """Read and validate a policy file; a malformed file fails start-up with a message naming the bad field."""
    file = Path(path) if path else DEFAULT_POLICY_FILE
    with file.open("rb") as handle:
        return PolicyConfig.model_validate(tomllib.load(handle))
