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
    """Cents limits: run at once up to `auto`, agent approval up to `agent`, supervisor up to `supervisor`."""

    auto: int
    agent: int
    supervisor: int | None = None

    @field_validator("auto", "agent", "supervisor", mode="before")
    @classmethod
    def _to_cents(cls, value: object) -> int | None:
        return None if value is None else _cents(value)

    @model_validator(mode="after")
    def _ordered(self) -> Tier:
        if not self.auto <= self.agent <= (self.supervisor if self.supervisor is not None else self.agent):
            raise ValueError("tier limits must rise: auto <= agent <= supervisor")
        return self

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

    def approver_limit(self, role: str, tool: str) -> int:
        return self.tier_for(tool).limit_for(role)


def load_policy(path: Path | str | None = None) -> PolicyConfig:
    """Read and validate a policy file; a malformed file fails start-up with a message naming the bad field."""
    file = Path(path) if path else DEFAULT_POLICY_FILE
    with file.open("rb") as handle:
        return PolicyConfig.model_validate(tomllib.load(handle))
