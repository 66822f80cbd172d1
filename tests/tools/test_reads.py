"""Read tools return the store's records, scoped to the signed-in customer."""

from __future__ import annotations

import pytest

from agent.turn.tool_gate import ToolGate
from basics.database import Database
from basics.principal import Principal
from policies.engine import PolicyEngine
from testkit import fixture_data as fx
from testkit.calls import submit
from tools import registry
from tools.context import ToolContext
from tools.errors import NotFound
from tools.order_tools import GetOrderDetails, get_order_details


def gate_for(db: Database, engine: PolicyEngine) -> ToolGate:
    return ToolGate(db, engine, registry)


async def test_order_details_match_the_store(db: Database, engine: PolicyEngine) -> None:
    outcome = await submit(gate_for(db, engine), "james_li_5688", "get_order_details", order_id="#W2611340")
    assert outcome.result is not None and outcome.result.ok
    assert outcome.result.content == fx.order("#W2611340")


async def test_an_order_read_as_a_row_is_the_order_the_session_loads(db: Database) -> None:
    """Through the gate a read tool reads the order as a row on the direct path (`ToolContext.read`); without a
    reader, it loads it through the session: the same answer, and the same refusal of another customer's order."""
    theirs = fx.foreign_order("james_li_5688")["order_id"]
    async with db.session(readonly=True) as session:
        for read in (db.read_alone, None):
            ctx = ToolContext(principal=Principal.customer("james_li_5688"), session=session, read=read)
            details = await get_order_details(ctx, GetOrderDetails(order_id="#W2611340"))
            assert details == fx.order("#W2611340"), read
            with pytest.raises(NotFound):
                await get_order_details(ctx, GetOrderDetails(order_id=theirs))


async def test_profile_matches_the_store(db: Database, engine: PolicyEngine) -> None:
    outcome = await submit(gate_for(db, engine), "james_li_5688", "get_customer_profile")
    assert outcome.result is not None
    assert outcome.result.content == fx.user("james_li_5688")


async def test_product_details_and_types(db: Database, engine: PolicyEngine) -> None:
    gate = gate_for(db, engine)
    product = next(iter(fx.store()["products"].values()))
    details = await submit(gate, "james_li_5688", "get_product_details", product_id=product["product_id"])
    assert details.result is not None and details.result.content == product
    types = await submit(gate, "james_li_5688", "list_product_types")
    assert types.result is not None
    assert types.result.content == {p["name"]: p["product_id"] for p in fx.store()["products"].values()}


async def test_another_customers_order_looks_like_no_order(db: Database, engine: PolicyEngine) -> None:
    gate = gate_for(db, engine)
    theirs = fx.foreign_order("james_li_5688")["order_id"]
    foreign = await submit(gate, "james_li_5688", "get_order_details", order_id=theirs)
    missing = await submit(gate, "james_li_5688", "get_order_details", order_id="#W0000000")
    assert foreign.result is not None and missing.result is not None
    assert not foreign.result.ok and foreign.result.error_code == "not_found"
    # Same answer, apart from the id the caller supplied: nothing tells the two apart.
    assert foreign.result.content["error"]["message"].replace(theirs, "X") == missing.result.content["error"][
        "message"
    ].replace("#W0000000", "X")


async def test_unknown_customer_has_no_profile(db: Database, engine: PolicyEngine) -> None:
    outcome = await submit(gate_for(db, engine), "nobody_0000", "get_customer_profile")
    assert outcome.result is not None and outcome.result.error_code == "not_found"
