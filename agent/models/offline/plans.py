"""What the offline model decides at each step: words for the customer, or tool calls to make."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Call = tuple[str, dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Plan:
    text: str = ""
    calls: tuple[Call, ...] = ()


def say(text: str) -> Plan:
    return Plan(text=text)


def use(*calls: Call) -> Plan:
    return Plan(calls=calls)
