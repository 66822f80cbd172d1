"""The offline model through the HTTP API, one request kind at a time, against the seeded store.

Each test is a short conversation a customer could have in the widget; it checks the replies and what changed
in the store. The policy still decides every call, so the fixtures are picked to land in the tier each test means.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import select

from agent.conversations.tables import Run
from testkit import fixture_data as data
from testkit.confirm import answer
from testkit.service import ServiceClient, running_service
from tools.store.tables import Order

JAMES = "james_li_5688"


def paid(order: data.Order) -> float:
    return sum(t["amount"] for t in order["payment_history"] if t["transaction_type"] == "payment")


def method_name(user_id: str, method_id: str) -> str:
    """How the customer knows a payment method: "Visa ending 3194", "gift card (balance $17.00)", "PayPal"."""
    method = data.user(user_id)["payment_methods"][method_id]
    if "last_four" in method:
        return f"{method['brand'].title()} ending {method['last_four']}"
    return "PayPal" if method["source"] == "paypal" else f"gift card (balance ${method['balance']:.2f})"


CONFIRM = "<presses Confirm>"
DECLINE = "<presses Decline>"


async def chat(
    service: ServiceClient, customer: str, *messages: str, conversation: str | None = None
) -> list[dict[str, Any]]:
    """Say each message in turn in one conversation (a new one unless given); return each turn's run. `CONFIRM`
    and `DECLINE` answer the confirmation the previous turn asked for, through the API, as the widget's buttons do."""
    conversation = conversation or await service.new_conversation(customer)
    runs: list[dict[str, Any]] = []
    for text in messages:
        if text in (CONFIRM, DECLINE):
            runs.append(
                await answer(service, customer, conversation, runs[-1], "confirm" if text == CONFIRM else "decline")
            )
            continue
        sent = await service.say(customer, conversation, text)
        assert sent.status_code == 200, sent.text
        runs.append(sent.json()["run"])
    return runs


async def stored_order(service: ServiceClient, order_id: str) -> Order:
    async with service.services.database.session(readonly=True) as session:
        return (await session.exec(select(Order).where(Order.order_id == order_id))).one()


async def test_order_status_is_answered_from_the_store(sqlite_url: str) -> None:
    async with running_service(sqlite_url) as service:
        [run] = await chat(service, JAMES, "Where is my order #W2611340?")
        assert run["status"] == "completed"
        reply = run["reply"]
        for fact in ("#W2611340", "processed", "357962501027", "Water Bottle", "Office Chair", "$536.65"):
            assert fact in reply
        async with service.services.database.session(readonly=True) as session:
            stored = (await session.exec(select(Run))).one()
        assert (stored.model_provider, stored.model_name) == ("offline", "offline-intent-1")


async def test_a_missing_order_id_is_asked_for_and_the_answer_continues_the_request(sqlite_url: str) -> None:
    async with running_service(sqlite_url) as service:
        asked, answered = await chat(service, JAMES, "Where is my package?", "It's W3632959")
        assert asked["reply"].endswith("?") and "#W2611340" in asked["reply"]  # it lists the customer's orders
        assert answered["reply"].startswith("Order #W3632959 ")


async def test_another_customers_order_is_not_found(sqlite_url: str) -> None:
    foreign = data.foreign_order(JAMES)
    async with running_service(sqlite_url) as service:
        [run] = await chat(service, JAMES, f"What's the status of {foreign['order_id']}?")
        assert "couldn't find" in run["reply"]
        assert foreign["address"]["address1"] not in run["reply"]


async def test_cancel_asks_the_reason_then_confirms_then_cancels(sqlite_url: str) -> None:
    order = data.first_order(lambda o: o["status"] == "pending" and paid(o) <= 100)
    async with running_service(sqlite_url) as service:
        conversation = await service.new_conversation(order["user_id"])
        reason, confirm, done = await chat(
            service,
            order["user_id"],
            f"Please cancel order {order['order_id']}",
            "I ordered it by mistake",
            CONFIRM,
            conversation=conversation,
        )
        assert "'no longer needed' or 'ordered by mistake'" in reason["reply"]
        assert confirm["status"] == "awaiting_confirmation" and f"${paid(order):.2f}" in confirm["reply"]
        assert confirm["pending_confirmation"]["arguments"]["reason"] == "ordered by mistake"
        assert done["status"] == "completed" and done["reply"].startswith("Done:")
        cancelled = await stored_order(service, order["order_id"])
        assert (cancelled.status, cancelled.cancel_reason) == ("cancelled", "ordered by mistake")


async def test_decline_after_the_confirmation_changes_nothing(sqlite_url: str) -> None:
    order = data.first_order(lambda o: o["status"] == "pending" and paid(o) <= 100)
    async with running_service(sqlite_url) as service:
        *_, declined, fresh = await chat(
            service,
            order["user_id"],
            f"Cancel {order['order_id']}, I no longer need it",
            DECLINE,
            "yes",  # a typed yes consents to nothing: only the Confirm button does
        )
        assert declined["reply"] == "Alright, I haven't changed anything."
        assert "offline mode" in fresh["reply"]  # the greeting: there is nothing to say yes to
        assert (await stored_order(service, order["order_id"])).status == "pending"


async def test_an_expensive_cancellation_waits_for_a_team_member(sqlite_url: str) -> None:
    order = data.first_order(lambda o: o["status"] == "pending" and 100 < paid(o) <= 1000)
    async with running_service(sqlite_url) as service:
        *_, held = await chat(service, order["user_id"], f"Cancel order {order['order_id']}, no longer needed", CONFIRM)
        assert held["status"] == "awaiting_approval"
        assert "team" in held["reply"].lower()
        assert held["pending_action"]["tool"] == "cancel_pending_order"
        assert (await stored_order(service, order["order_id"])).status == "pending"


async def test_return_of_a_named_item_to_the_original_payment_method(sqlite_url: str) -> None:
    order = data.first_order(
        lambda o: (
            o["status"] == "delivered"
            and any(i["price"] <= 100 and [j["name"] for j in o["items"]].count(i["name"]) == 1 for i in o["items"])
        )
    )
    item = next(
        i for i in order["items"] if i["price"] <= 100 and [j["name"] for j in order["items"]].count(i["name"]) == 1
    )
    method = order["payment_history"][0]["payment_method_id"]
    async with running_service(sqlite_url) as service:
        confirm, done = await chat(
            service, order["user_id"], f"I want to return the {item['name']} from {order['order_id']}", CONFIRM
        )
        assert f"${item['price']:.2f}" in confirm["reply"] and method_name(order["user_id"], method) in confirm["reply"]
        assert method not in confirm["reply"]  # the customer's name for it, not the store's id
        assert done["reply"].startswith("Done:")
        returned = await stored_order(service, order["order_id"])
        assert returned.status == "return requested"
        assert returned.return_items == [item["item_id"]]


async def test_return_without_items_lists_them(sqlite_url: str) -> None:
    order = data.first_order(lambda o: o["status"] == "delivered")
    async with running_service(sqlite_url) as service:
        [asked] = await chat(service, order["user_id"], f"I'd like to return something from {order['order_id']}")
        assert asked["reply"].endswith("?")
        assert all(item["name"] in asked["reply"] for item in order["items"])
        assert not any(item["item_id"] in asked["reply"] for item in order["items"])  # never internal ids


async def test_exchange_offers_the_variants_and_swaps_the_chosen_one(sqlite_url: str) -> None:
    order, item, variant = data.affordable_swap("delivered")
    wanted = [value for key, value in variant["options"].items() if item["options"].get(key) != value]
    async with running_service(sqlite_url) as service:
        offered, confirm, done = await chat(
            service,
            order["user_id"],
            f"Can I exchange the {item['name']} of order {order['order_id']}?",
            f"The {' '.join(wanted)} one please",  # in words, as the options were offered: no item ids
            CONFIRM,
        )
        assert ", ".join(variant["options"].values()) in offered["reply"] and offered["reply"].endswith("?")
        assert variant["item_id"] not in offered["reply"]
        assert confirm["pending_confirmation"]["arguments"]["new_item_ids"] == [variant["item_id"]]
        assert done["status"] in ("completed", "awaiting_approval")
        exchanged = await stored_order(service, order["order_id"])
        if done["status"] == "completed":
            assert exchanged.status == "exchange requested"
            assert exchanged.exchange_new_items == [variant["item_id"]]
        else:
            assert exchanged.status == "delivered"


async def test_the_address_of_a_pending_order_is_changed(sqlite_url: str) -> None:
    order = data.first_order(lambda o: o["status"] == "pending")
    async with running_service(sqlite_url) as service:
        confirm, done = await chat(
            service,
            order["user_id"],
            f"Please change the shipping address of {order['order_id']} to 12 Elm Street, Apt 4, Austin, TX 78701, USA",
            CONFIRM,
        )
        assert "12 Elm Street, Apt 4, Austin, TX, 78701, USA" in confirm["reply"]
        assert done["reply"].startswith("Done:")
        address = (await stored_order(service, order["order_id"])).address
        assert address == {
            "address1": "12 Elm Street",
            "address2": "Apt 4",
            "city": "Austin",
            "state": "TX",
            "country": "USA",
            "zip": "78701",
        }


async def test_an_unreadable_address_is_asked_for_in_a_format(sqlite_url: str) -> None:
    order = data.first_order(lambda o: o["status"] == "pending")
    async with running_service(sqlite_url) as service:
        [asked] = await chat(service, order["user_id"], f"Change the address of {order['order_id']} to my office")
        assert "street, apartment (if any), city, state, country, zip" in asked["reply"]


async def test_a_pending_order_is_paid_with_the_customers_gift_card(sqlite_url: str) -> None:
    order = data.first_order(
        lambda o: (
            o["status"] == "pending"
            and data.paid_with(o, "credit_card")
            and paid(o) <= 100
            and any(b >= paid(o) for b in data.gift_cards(o["user_id"]).values())
        )
    )
    [card] = [k for k, b in data.gift_cards(order["user_id"]).items() if b >= paid(order)]
    async with running_service(sqlite_url) as service:
        confirm, done = await chat(
            service, order["user_id"], f"Can I pay {order['order_id']} with my gift card?", CONFIRM
        )
        balance = data.gift_cards(order["user_id"])[card]
        assert f"with gift card (balance ${balance:.2f}) instead" in confirm["reply"]
        assert card.rpartition("_")[2] not in confirm["reply"]
        assert done["status"] == "completed", done
        history = (await stored_order(service, order["order_id"])).payment_history
        assert history[-2]["payment_method_id"] == card and history[-1]["transaction_type"] == "refund"


async def test_a_small_goodwill_refund_is_given_after_the_amount_is_asked(sqlite_url: str) -> None:
    async with running_service(sqlite_url) as service:
        asked, confirm, done = await chat(
            service, JAMES, "My order #W2611340 arrived late, I'd like a refund", "$20 would be fair", CONFIRM
        )
        assert asked["reply"].startswith("How much")
        assert "$20.00" in confirm["reply"]
        assert done["reply"].startswith("Done: I've refunded $20.00")
        history = (await stored_order(service, "#W2611340")).payment_history
        assert history[-1] == {
            "transaction_type": "refund",
            "amount_cents": 2000,
            "payment_method_id": "gift_card_1725971",
        }


async def test_a_goodwill_refund_over_the_hard_cap_is_explained(sqlite_url: str) -> None:
    async with running_service(sqlite_url) as service:
        [denied] = await chat(service, JAMES, "Refund me $450 on #W2611340 please")  # refused before asking
        assert denied["status"] == "completed"
        assert denied["reply"].startswith("I'm sorry, I can't give that refund")
        history = (await stored_order(service, "#W2611340")).payment_history
        assert [t["transaction_type"] for t in history] == ["payment"]


async def test_asking_for_a_human_hands_the_conversation_off(sqlite_url: str) -> None:
    async with running_service(sqlite_url) as service:
        [run] = await chat(service, JAMES, "I want to talk to a real person")
        assert run["status"] == "handed_off"


async def test_a_greeting_gets_what_the_assistant_can_do(sqlite_url: str) -> None:
    async with running_service(sqlite_url) as service:
        [run] = await chat(service, JAMES, "hello")
        assert run["status"] == "completed" and "offline" in run["reply"]


async def test_the_account_summary_lists_orders_and_gift_card_balance(sqlite_url: str) -> None:
    async with running_service(sqlite_url) as service:
        [run] = await chat(service, JAMES, "What orders do I have, and what's my gift card balance?")
        assert all(order_id in run["reply"] for order_id in data.user(JAMES)["orders"])
        assert "$17.00" in run["reply"]
        async with service.services.database.session(readonly=True) as session:
            stored = (await session.exec(select(Run))).one()
        assert stored.model_calls == 2  # the profile lookup, then the answer
