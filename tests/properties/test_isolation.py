"""Properties over random sequences of tool calls, as a hostile model might send them.

1. Nothing customer A does reads or changes customer B's data.
2. A call the policy denies changes nothing at all.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.turn.tool_gate import ToolGate
from basics.database import Database
from policies.engine import PolicyEngine
from testkit import fixture_data as fx
from testkit.calls import submit_and_approve
from testkit.snapshot import customer_state
from tools import registry

A_ORDER, _, _ = fx.affordable_swap()
A = A_ORDER["user_id"]
B = fx.first_order(lambda o: o["status"] == "pending" and o["user_id"] != A)["user_id"]


def ids_of(user_id: str) -> dict[str, list[str]]:
    user = fx.user(user_id)
    orders = [fx.order(o) for o in user["orders"]]
    return {
        "order_id": list(user["orders"]),
        "payment_method_id": list(user["payment_methods"]),
        "item_id": [i["item_id"] for o in orders for i in o["items"]],
        "new_item_id": [
            v["item_id"]
            for o in orders
            for i in o["items"]
            for v in fx.store()["products"][i["product_id"]]["variants"].values()
        ][:40],
    }


POOLS = {key: ids_of(A)[key] + ids_of(B)[key] for key in ids_of(A)}
SECRETS_OF_B = [B, *ids_of(B)["order_id"], *ids_of(B)["payment_method_id"], fx.user(B)["email"]]


def pick(key: str) -> st.SearchStrategy[Any]:
    return st.one_of(st.sampled_from(POOLS[key]), st.text(max_size=12))


ADDRESS = st.fixed_dictionaries(
    {
        "address1": st.text(min_size=1, max_size=20),
        "address2": st.text(max_size=5),
        "city": st.text(min_size=1, max_size=10),
        "state": st.sampled_from(["CA", "NY", "ÅÄ"]),
        "country": st.just("USA"),
        "zip": st.sampled_from(["10001", "94105", "x"]),
    }
)
AMOUNT = st.one_of(
    st.decimals(min_value=-10, max_value=10_000, places=2).map(str),
    st.integers(-5, 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
)

CALLS: st.SearchStrategy[tuple[str, dict[str, Any]]] = st.one_of(
    st.tuples(st.just("get_customer_profile"), st.just({})),
    st.tuples(st.just("get_order_details"), st.fixed_dictionaries({"order_id": pick("order_id")})),
    st.tuples(
        st.just("cancel_pending_order"),
        st.fixed_dictionaries(
            {"order_id": pick("order_id"), "reason": st.sampled_from(["no longer needed", "ordered by mistake", "x"])}
        ),
    ),
    st.tuples(
        st.just("modify_pending_order_address"),
        st.fixed_dictionaries({"order_id": pick("order_id")}).flatmap(lambda d: ADDRESS.map(lambda a: {**d, **a})),
    ),
    st.tuples(
        st.just("modify_pending_order_payment"),
        st.fixed_dictionaries({"order_id": pick("order_id"), "payment_method_id": pick("payment_method_id")}),
    ),
    st.tuples(
        st.sampled_from(["modify_pending_order_items", "exchange_delivered_order_items"]),
        st.fixed_dictionaries(
            {
                "order_id": pick("order_id"),
                "item_ids": st.lists(pick("item_id"), max_size=2),
                "new_item_ids": st.lists(pick("new_item_id"), max_size=2),
                "payment_method_id": pick("payment_method_id"),
            }
        ),
    ),
    st.tuples(
        st.just("return_delivered_order_items"),
        st.fixed_dictionaries(
            {
                "order_id": pick("order_id"),
                "item_ids": st.lists(pick("item_id"), min_size=1, max_size=3),
                "payment_method_id": pick("payment_method_id"),
            }
        ),
    ),
    st.tuples(st.just("modify_customer_address"), ADDRESS),
    st.tuples(
        st.just("issue_refund"),
        st.fixed_dictionaries({"order_id": pick("order_id"), "amount": AMOUNT, "reason": st.text(max_size=10)}),
    ),
)

PROPERTY_SETTINGS = settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)


@PROPERTY_SETTINGS
@given(calls=st.lists(CALLS, min_size=1, max_size=6))
async def test_customer_a_never_reads_or_changes_customer_b(
    db: Database, engine: PolicyEngine, calls: list[tuple[str, dict[str, Any]]]
) -> None:
    gate = ToolGate(db, engine, registry)
    b_before = await customer_state(db, B)
    for name, arguments in calls:
        _, result = await submit_and_approve(gate, A, name, **arguments)
        shown, asked = json.dumps(result.content), json.dumps(arguments)
        # Echoing an id A typed is no leak; any other trace of B is.
        assert not [s for s in SECRETS_OF_B if s in shown and s not in asked], (name, arguments, shown)
    assert await customer_state(db, B) == b_before


@PROPERTY_SETTINGS
@given(calls=st.lists(CALLS, min_size=1, max_size=6))
async def test_a_denied_call_changes_nothing(
    db: Database, engine: PolicyEngine, calls: list[tuple[str, dict[str, Any]]]
) -> None:
    gate = ToolGate(db, engine, registry)
    for name, arguments in calls:
        before = (await customer_state(db, A), await customer_state(db, B))
        outcome, _ = await submit_and_approve(gate, A, name, **arguments)
        if outcome.decision is None or outcome.decision.denied:
            assert (await customer_state(db, A), await customer_state(db, B)) == before, (name, arguments)
