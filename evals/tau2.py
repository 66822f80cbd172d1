"""The tau2-bench retail train tasks: who each task's customer is, and the store state a correct agent leaves.

A task (`fixtures/tasks_train.json`) gives the customer's instructions and the tool calls a correct agent makes.
The service authenticates its customers, so a task is played as the customer its look-ups identify, and it
passes when the store ends exactly as those expected calls leave it (tau2's "DB" check), as predicted by the
independent reading of the store's rules in `evals.tau2_oracle`.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from evals import tau2_oracle
from tools.data_files import DataFile
from tools.store.loader import DEFAULT_FIXTURE

TAU2_TASKS = DataFile("evals", "data/tasks_train.json", "fixtures/tasks_train.json")
DEFAULT_TASKS = TAU2_TASKS.path()

RENAMED = {"get_user_details": "get_customer_profile", "modify_user_address": "modify_customer_address"}
"""tau2's tool names that this service spells differently."""
NO_TOOL = {"calculate", "get_item_details", "find_user_id_by_email", "find_user_id_by_name_zip"}
"""tau2 tools with no counterpart here: arithmetic, item look-ups, and finding the user (the token says who)."""
WRITES = {
    "cancel_pending_order",
    "modify_pending_order_address",
    "modify_pending_order_payment",
    "modify_pending_order_items",
    "return_delivered_order_items",
    "exchange_delivered_order_items",
    "modify_user_address",
    "transfer_to_human_agents",
}

State = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Tau2Task:
    id: str
    customer_id: str
    instructions: dict[str, Any]
    """tau2's user scenario: `reason_for_call`, `known_info`, `unknown_info`, `task_instructions`."""
    expected_actions: list[dict[str, Any]]
    communicate_info: list[str]

    def expected_state(self, store: State) -> State:
        """`{"users", "orders"}` after the task's expected writes, on a copy of `store` (the seed data)."""
        predicted = copy.deepcopy(store)
        for action in self.expected_actions:
            name, arguments = action["name"], action["arguments"]
            if name in WRITES and not tau2_oracle.refusal(predicted, self.customer_id, name, arguments):
                tau2_oracle.apply(predicted, self.customer_id, name, arguments)
        return {"users": predicted["users"], "orders": predicted["orders"]}

    def expected_account(self, store: State) -> State:
        """The customer's own account after the expected writes, in the shape the eval harness reads back
        (`{"address", "payment_methods", "orders"}`). Every tool is scoped to the signed-in customer, so their
        account is all a task can change."""
        state = self.expected_state(store)
        user = state["users"][self.customer_id]
        return {
            "address": user["address"],
            "payment_methods": user["payment_methods"],
            "orders": {order_id: state["orders"][order_id] for order_id in user["orders"]},
        }


def differences(expected: Any, actual: Any, path: str = "", limit: int = 5) -> list[str]:
    """Up to `limit` paths where `actual` differs from `expected`, e.g. `orders.#W1.status: 'pending' != ...`."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        found: list[str] = []
        for key in sorted(set(expected) | set(actual), key=str):
            if len(found) >= limit:
                break
            found += differences(expected.get(key), actual.get(key), f"{path}.{key}" if path else str(key), limit)
        return found[:limit]
    if isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        found = []
        for index, (want, got) in enumerate(zip(expected, actual, strict=True)):
            found += differences(want, got, f"{path}[{index}]", limit)
        return found[:limit]
    return [] if expected == actual else [f"{path}: expected {expected!r}, found {actual!r}"]


@cache
def seed_store(path: Path = DEFAULT_FIXTURE) -> State:
    return json.loads(path.read_text())  # type: ignore[no-any-return]


def load_tasks(path: Path = DEFAULT_TASKS, store: State | None = None) -> list[Tau2Task]:
    data = store or seed_store()
    return [
        Tau2Task(
            id=str(raw["id"]),
            customer_id=customer_of(raw, data),
            instructions=dict(raw["user_scenario"]["instructions"]),
            expected_actions=list(raw["evaluation_criteria"]["actions"]),
            communicate_info=list(raw["evaluation_criteria"].get("communicate_info") or []),
        )
        for raw in json.loads(path.read_text())
    ]


def _found_user(action: dict[str, Any], store: State) -> str | None:
    args = action["arguments"]
    for user in store["users"].values():
        if action["name"] == "find_user_id_by_email" and user["email"] == args["email"]:
            return str(user["user_id"])
        if action["name"] == "find_user_id_by_name_zip" and (
            user["name"]["first_name"],
            user["name"]["last_name"],
            user["address"]["zip"],
        ) == (args["first_name"], args["last_name"], args["zip"]):
            return str(user["user_id"])
    return None


def customer_of(task: dict[str, Any], store: State) -> str:
    """Who the task's customer is: a successful look-up, a user id in a call, an order's owner, or the name and
    zip the customer introduces themself with."""
    actions = task["evaluation_criteria"]["actions"]
    for action in actions:
        if action["name"].startswith("find_user_id") and (found := _found_user(action, store)):
            return found
    for action in actions:
        if "user_id" in action["arguments"]:
            return str(action["arguments"]["user_id"])
        if (order_id := action["arguments"].get("order_id")) in store["orders"]:
            return str(store["orders"][order_id]["user_id"])
    known = task["user_scenario"]["instructions"]["known_info"]
    for word in re.findall(r"[a-z]+_[a-z]+_\d+", known):
        if word in store["users"]:
            return str(word)
    zip_code = re.search(r"\b(\d{5})\b", known)
    for user in store["users"].values():
        name = f"{user['name']['first_name']} {user['name']['last_name']}"
        if name in known and zip_code and user["address"]["zip"] == zip_code.group(1):
            return str(user["user_id"])
    raise LookupError(f"task {task['id']}: no customer")
