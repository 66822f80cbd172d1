"""The store's 74 recorded support scenarios, replayed against tools and policy.

Each scenario lists the exact tool calls a correct agent makes. Replayed as the customer the scenario's
look-ups identify, every expected write must be allowed or sent for approval (never denied), and once approved
the final data must equal what an independent reading of the store's rules predicts (`oracle`).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from agent.turn.tool_gate import ToolGate
from basics.database import Database
from evals import tau2_oracle as oracle
from evals.tau2 import RENAMED, customer_of
from policies.engine import PolicyEngine
from testkit import fixture_data as fx
from testkit.calls import submit_and_approve
from testkit.snapshot import snapshot
from tools import registry

NO_TOOL = {"calculate", "get_item_details"}  # arithmetic and item look-ups: no data effect, no tool of ours
WRITES = {spec.name for spec in registry if spec.writes} | {"modify_user_address"}


TASKS = fx.tasks()


@pytest.mark.parametrize("task", TASKS, ids=[f"task-{t['id']}" for t in TASKS])
async def test_scenario_replays_to_the_predicted_data(db: Database, engine: PolicyEngine, task: dict[str, Any]) -> None:
    customer = customer_of(task, fx.store())
    gate = ToolGate(db, engine, registry)
    predicted = copy.deepcopy(fx.store())
    for action in task["evaluation_criteria"]["actions"]:
        name = action["name"]
        if name.startswith("find_user_id") or name in NO_TOOL:
            continue
        arguments = {k: v for k, v in action["arguments"].items() if k != "user_id"}
        outcome, result = await submit_and_approve(gate, customer, RENAMED.get(name, name), **arguments)
        if name in WRITES and (refusal := oracle.refusal(predicted, customer, name, action["arguments"])):
            # The scenario expects a write the store's own rules refuse; the service must refuse it too.
            assert outcome.decision is not None and outcome.decision.rule == f"precondition.{refusal}"
            continue
        if name in WRITES:  # a recorded read may miss (a product id mistaken for an item id); a write may not
            assert outcome.decision is not None and not outcome.decision.denied, (task["id"], outcome.decision)
            assert result.ok, (task["id"], name, result.content)
            oracle.apply(predicted, customer, name, action["arguments"])
    assert await snapshot(db) == {"users": predicted["users"], "orders": predicted["orders"]}
