"""The store's 74 recorded support scenarios, replayed against tools and policy.

Each scenario lists the exact tool calls a correct agent makes. Replayed as the customer the scenario's
look-ups identify, every expected write must be allowed or sent for approval (never denied), and once approved
the final data must equal what an independent reading of the store's rules predicts (`oracle`).
"""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from agent.dispatch import ToolGate
from policies.engine import PolicyEngine
from tests.scenarios import oracle
from tests.support import fixture_data as fx
from tests.support.calls import submit_and_approve
from tests.support.snapshot import snapshot
from tools import registry
from tools.store.database import Database

RENAMED = {"get_user_details": "get_customer_profile", "modify_user_address": "modify_customer_address"}
NO_TOOL = {"calculate", "get_item_details"}  # arithmetic and item look-ups: no data effect, no tool of ours
WRITES = {spec.name for spec in registry if spec.writes} | {"modify_user_address"}


def find_user(action: dict[str, Any]) -> str | None:
    args = action["arguments"]
    for user in fx.store()["users"].values():
        if action["name"] == "find_user_id_by_email" and user["email"] == args["email"]:
            return str(user["user_id"])
        if action["name"] == "find_user_id_by_name_zip" and (
            user["name"]["first_name"],
            user["name"]["last_name"],
            user["address"]["zip"],
        ) == (args["first_name"], args["last_name"], args["zip"]):
            return str(user["user_id"])
    return None


def customer_of(task: dict[str, Any]) -> str:
    """Who the scenario's customer is: a successful look-up, a user id in a call, an order's owner, or the
    name and zip the customer introduces themself with."""
    actions = task["evaluation_criteria"]["actions"]
    for action in actions:
        if action["name"].startswith("find_user_id") and (found := find_user(action)):
            return found
    for action in actions:
        if "user_id" in action["arguments"]:
            return str(action["arguments"]["user_id"])
        if (order_id := action["arguments"].get("order_id")) in fx.store()["orders"]:
            return str(fx.order(order_id)["user_id"])
    known = task["user_scenario"]["instructions"]["known_info"]
    for word in re.findall(r"[a-z]+_[a-z]+_\d+", known):
        if word in fx.store()["users"]:
            return word
    zip_code = re.search(r"\b(\d{5})\b", known)
    for user in fx.store()["users"].values():
        name = f"{user['name']['first_name']} {user['name']['last_name']}"
        if name in known and zip_code and user["address"]["zip"] == zip_code.group(1):
            return str(user["user_id"])
    raise LookupError(f"task {task['id']}: no customer")


TASKS = fx.tasks()


@pytest.mark.parametrize("task", TASKS, ids=[f"task-{t['id']}" for t in TASKS])
async def test_scenario_replays_to_the_predicted_data(db: Database, engine: PolicyEngine, task: dict[str, Any]) -> None:
    customer = customer_of(task)
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
