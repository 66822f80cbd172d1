"""The turn whose cost the benchmarks and the cost tests count: a read-only tool turn (the model looks an order up
with `get_order_details`, then answers), answered by a scripted model so no model time is measured."""

from __future__ import annotations

from typing import Any

from agent.models.scripted import ScriptedModel, calls, say

CUSTOMER = "james_li_5688"
QUESTION = "Where is my order #W2611340?"
QUIET: dict[str, Any] = {"SUPPORT_WORKER_LEASE_S": 600, "SUPPORT_APPROVAL_SWEEP_S": 3600}
"""No lease renewal or approval sweep while turns are counted: only the turns' own statements."""


def read_only_turns(count: int) -> ScriptedModel:
    """A model that answers `count` turns, each with one order read and a reply."""
    model = ScriptedModel()
    for _ in range(count):
        model.add(calls(("get_order_details", {"order_id": "#W2611340"}, None)), say("It is on its way."))
    return model
