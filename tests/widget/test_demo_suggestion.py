"""The demo page suggests something to type that works for the customer chosen: for every customer of the seed
store the suggestion fits their orders, and for each kind of suggestion (and the README's customer) the offline
model, sent the suggestion word for word, does what it says."""

from __future__ import annotations

import html
import re
from typing import Any

from sqlmodel import col, select

from api.widget.demo import suggested_request
from basics.database import Database
from testkit import fixture_data as data
from testkit.service import bearer, running_service
from tools.store.tables import Order

README_CUSTOMER = "james_li_5688"
ORDER_ID = re.compile(r"#W\d{7}")
WANTED = {"cancel": "pending", "return": "delivered"}
"""The status each suggested action needs, as the store's rules say (`policy.md`)."""


async def suggestions(sqlite_url: str) -> dict[str, str]:
    database = Database(sqlite_url)
    try:
        async with database.session(readonly=True) as session:
            orders = (await session.exec(select(Order).order_by(col(Order.position)))).all()
    finally:
        await database.dispose()
    by_customer: dict[str, list[Order]] = {}
    for order in orders:
        by_customer.setdefault(order.customer_id, []).append(order)
    return {customer: suggested_request(mine) for customer, mine in by_customer.items()}


async def test_every_customers_suggestion_fits_their_orders(sqlite_url: str) -> None:
    for customer, suggestion in (await suggestions(sqlite_url)).items():
        [order_id] = ORDER_ID.findall(suggestion)
        order = data.order(order_id)
        assert order["user_id"] == customer
        action = {"please": "cancel", "i": "return"}.get(suggestion.split()[0].lower(), "status")
        if action in WANTED:
            assert order["status"] == WANTED[action], (customer, suggestion)
        if action == "return":
            named = suggestion.removeprefix("I want to return the ").split(" from order")[0]
            assert [i["name"] for i in order["items"]].count(named) == 1, (customer, suggestion)
        if action == "status":  # only when nothing can be cancelled or returned
            assert not any(data.order(o)["status"] in ("pending", "delivered") for o in data.user(customer)["orders"])


async def test_the_suggestion_works_when_typed(sqlite_url: str) -> None:
    every = await suggestions(sqlite_url)
    by_kind: dict[str, str] = {}
    for customer, suggestion in every.items():
        by_kind.setdefault(suggestion.split()[0], customer)
    assert set(by_kind) == {"Please", "I", "Where"}, by_kind  # the store has customers of each kind
    tried = {README_CUSTOMER, *by_kind.values()}
    expected_tool = {"Please": "cancel_pending_order", "I": "return_delivered_order_items"}
    async with running_service(sqlite_url, SUPPORT_DEMO="1") as service:
        for customer in sorted(tried):
            suggestion = every[customer]
            page = await service.http.get("/demo", params={"customer": customer})
            assert page.status_code == 200
            assert f'<span id="suggestion">{html.escape(suggestion)}</span>' in page.text
            conversation = await service.new_conversation(customer)
            answer = await service.say(customer, conversation, suggestion)
            assert answer.status_code == 200, answer.text
            run: dict[str, Any] = answer.json()["run"]
            tool = expected_tool.get(suggestion.split()[0])
            if tool is None:
                assert run["status"] == "completed" and ORDER_ID.findall(suggestion)[0] in run["reply"], run
            else:
                assert run["status"] == "awaiting_confirmation", (customer, suggestion, run["reply"])
                assert run["pending_confirmation"]["tool"] == tool
        read = await service.http.get("/demo", params={"customer": README_CUSTOMER}, headers=bearer(README_CUSTOMER))
        assert "Please cancel" not in read.text, "the README's customer has nothing left to cancel"
