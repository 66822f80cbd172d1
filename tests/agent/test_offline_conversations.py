"""The offline model in conversations a new customer really has (issue #15): follow-ups that point back, two
requests in one message, answers to its own questions, small talk, anger, names instead of ids, and what a
team member decided on a held action. All through the HTTP API against the seeded store.
"""

from __future__ import annotations

import re
import time
from typing import Any

from sqlmodel import col, select

from agent.conversations.tables import Step
from agent.models.offline.reading.text import read
from testkit import fixture_data as data
from testkit.confirm import answer
from testkit.service import ServiceClient, bearer, running_service
from tests.agent.test_offline_model import CONFIRM, JAMES, chat, stored_order

IVAN = "ivan_santos_6635"  # two pending orders and a delivered one with a garden hose and earbuds
IVAN_PENDING, IVAN_OTHER_PENDING, IVAN_DELIVERED = "#W8770097", "#W5183325", "#W6893533"
OMAR = "omar_kim_3528"  # #W1080318 is paid with his only credit card; his other method is a gift card
ISABELLA = "isabella_lopez_6490"  # #W4923227 paid by one credit card; she has a Visa, a gift card and PayPal
AGENT = bearer("agent_alice", role="agent")
INTERNAL_ID = re.compile(r"\b(gift_card|credit_card|paypal)_\d+|\b\d{10}\b")


def item(order_id: str, name: str) -> dict[str, Any]:
    return next(i for i in data.order(order_id)["items"] if i["name"] == name)


def test_the_fixtures_are_what_the_tests_say() -> None:
    assert [data.order(o)["status"] for o in (IVAN_PENDING, IVAN_OTHER_PENDING, IVAN_DELIVERED)] == [
        "pending",
        "pending",
        "delivered",
    ]
    assert data.order("#W1080318")["payment_history"][0]["payment_method_id"] == "credit_card_3577130"
    assert [m["source"] for m in data.user(OMAR)["payment_methods"].values()] == ["gift_card", "credit_card"]


async def tools_called(service: ServiceClient, run: dict[str, Any]) -> list[str]:
    async with service.services.database.session(readonly=True) as session:
        steps = (await session.exec(select(Step).where(Step.run_id == run["id"]).order_by(col(Step.position)))).all()
    return [s.tool for s in steps if s.kind == "tool" and s.tool]


# 1. Context across turns


async def test_cancel_it_acts_on_the_order_just_shown(sqlite_url: str) -> None:
    async with running_service(sqlite_url) as service:
        shown, proposed = await chat(
            service, IVAN, f"Show me order {IVAN_PENDING}", "I want to cancel it, I no longer need it"
        )
        assert shown["reply"].startswith(f"Order {IVAN_PENDING} is pending")
        assert proposed["status"] == "awaiting_confirmation", proposed["reply"]
        assert proposed["pending_confirmation"]["arguments"] == {"order_id": IVAN_PENDING, "reason": "no longer needed"}


async def test_the_second_one_is_the_second_order_listed(sqlite_url: str) -> None:
    orders = data.user(JAMES)["orders"]
    async with running_service(sqlite_url) as service:
        listed, second, last = await chat(
            service, JAMES, "What orders do I have?", "Tell me about the second one", "and the last one?"
        )
        assert all(o in listed["reply"] for o in orders)
        assert second["reply"].startswith(f"Order {orders[1]} ")
        assert last["reply"].startswith(f"Order {orders[1]} ")  # the last order *shown*: only one was


async def test_the_second_one_picks_from_the_orders_offered(sqlite_url: str) -> None:
    pending = [o for o in data.user(IVAN)["orders"] if data.order(o)["status"] == "pending"]
    async with running_service(sqlite_url) as service:
        asked, proposed = await chat(
            service, IVAN, "I want to cancel an order, I ordered it by mistake", "the second one"
        )
        # Only the orders that can be cancelled are offered, in the account's order, with what is in them.
        assert re.findall(r"#W\d{7}", asked["reply"]) == pending and asked["reply"].endswith("?")
        assert "Office Chair" in asked["reply"] and "delivered" not in asked["reply"]
        assert proposed["pending_confirmation"]["arguments"] == {"order_id": pending[1], "reason": "ordered by mistake"}


async def test_an_order_named_by_its_items_is_found_without_its_id(sqlite_url: str) -> None:
    hose = item(IVAN_DELIVERED, "Garden Hose")
    async with running_service(sqlite_url) as service:
        [proposed] = await chat(service, IVAN, "I'd like to return the garden hose")
        assert proposed["pending_confirmation"]["arguments"]["order_id"] == IVAN_DELIVERED
        assert proposed["pending_confirmation"]["arguments"]["item_ids"] == [hose["item_id"]]


async def test_what_was_in_it_follows_the_order_just_shown(sqlite_url: str) -> None:
    async with running_service(sqlite_url) as service:
        _, again = await chat(service, JAMES, "Where is my order #W2611340?", "what was in it again?")
        assert again["reply"].startswith("Order #W2611340 contains: Water Bottle (1000ml, glass, blue) $47.84; ")
        assert "Tracking" not in again["reply"]  # what was asked, not the whole record again


# 2. Two requests in one message


async def test_two_actions_in_one_message_each_on_its_own_order(sqlite_url: str) -> None:
    hose = item(IVAN_DELIVERED, "Garden Hose")
    async with running_service(sqlite_url) as service:
        conversation = await service.new_conversation(IVAN)
        first, done, second = await chat(
            service,
            IVAN,
            f"Return the garden hose from {IVAN_DELIVERED} and cancel {IVAN_OTHER_PENDING}, I don't need it",
            CONFIRM,
            "yes",
            conversation=conversation,
        )
        assert first["pending_confirmation"]["arguments"]["order_id"] == IVAN_DELIVERED
        assert first["pending_confirmation"]["arguments"]["item_ids"] == [hose["item_id"]]
        assert done["reply"].startswith(f"Done: the return from order {IVAN_DELIVERED} is registered")
        assert f'You also asked: "cancel {IVAN_OTHER_PENDING}, I don\'t need it". Shall I go on' in done["reply"]
        assert second["pending_confirmation"]["arguments"] == {
            "order_id": IVAN_OTHER_PENDING,
            "reason": "no longer needed",
        }
        assert (await stored_order(service, IVAN_DELIVERED)).status == "return requested"
        assert (await stored_order(service, IVAN_OTHER_PENDING)).status == "pending"  # until its own Confirm


async def test_one_action_on_two_orders_is_done_one_order_at_a_time(sqlite_url: str) -> None:
    async with running_service(sqlite_url) as service:
        conversation = await service.new_conversation(IVAN)
        first, held = await chat(
            service,
            IVAN,
            f"Cancel {IVAN_PENDING} and {IVAN_OTHER_PENDING}, I don't need them",
            CONFIRM,
            conversation=conversation,
        )
        assert first["pending_confirmation"]["arguments"]["order_id"] == IVAN_PENDING
        assert held["status"] == "awaiting_approval"  # over the automatic limit: a team member decides
        approval = held["pending_action"]["approval_id"]
        decided = await service.http.post(f"/v1/approvals/{approval}/approve", json={"note": ""}, headers=AGENT)
        reply = decided.json()["run"]["reply"]
        assert reply.startswith(f"A team member approved it. Done: order {IVAN_PENDING} is cancelled.")
        assert reply.endswith(
            f'You also asked: "Cancel {IVAN_OTHER_PENDING}, I don\'t need them". Shall I go on with that?'
        )
        [second] = await chat(service, IVAN, "yes please", conversation=conversation)
        assert second["pending_confirmation"]["arguments"] == {
            "order_id": IVAN_OTHER_PENDING,
            "reason": "no longer needed",
        }
        assert (await stored_order(service, IVAN_PENDING)).status == "cancelled"
        assert (await stored_order(service, IVAN_OTHER_PENDING)).status == "pending"


async def test_a_question_and_an_action_never_apply_the_action_to_the_first_order(sqlite_url: str) -> None:
    async with running_service(sqlite_url) as service:
        answered, proposed = await chat(
            service, IVAN, f"Where is {IVAN_PENDING}? Also cancel {IVAN_OTHER_PENDING}, I no longer need it", "yes"
        )
        assert answered["status"] == "completed"
        assert answered["reply"].startswith(f"Order {IVAN_PENDING} is pending")
        assert answered["reply"].endswith(
            f'You also asked: "cancel {IVAN_OTHER_PENDING}, I no longer need it". Shall I go on with that?'
        )
        assert proposed["pending_confirmation"]["arguments"]["order_id"] == IVAN_OTHER_PENDING
        assert (await stored_order(service, IVAN_PENDING)).status == "pending"


async def test_a_policy_question_beside_an_action_is_answered_first(sqlite_url: str) -> None:
    async with running_service(sqlite_url) as service:
        answered, proposed = await chat(
            service, IVAN, f"Return the garden hose from {IVAN_DELIVERED}. Also how long do refunds take?", "yes"
        )
        assert answered["reply"].startswith("From our help centre: ")
        assert "(https://help.example-store.com/articles/refund-timing)" in answered["reply"]
        assert answered["reply"].endswith(
            f'You also asked: "Return the garden hose from {IVAN_DELIVERED}". Shall I go on with that?'
        )
        assert await tools_called(service, answered) == ["search_help_centre"]
        assert proposed["pending_confirmation"]["tool"] == "return_delivered_order_items"


async def test_a_request_phrased_as_a_question_is_still_a_request(sqlite_url: str) -> None:
    async with running_service(sqlite_url) as service:
        [proposed] = await chat(
            service, JAMES, "The water bottle from #W2611340 leaked, could I get a $10 refund as compensation?"
        )
        assert proposed["pending_confirmation"]["tool"] == "issue_refund"
        assert proposed["pending_confirmation"]["arguments"]["amount"] == 10


async def test_two_orders_to_look_up_are_answered_together(sqlite_url: str) -> None:
    async with running_service(sqlite_url) as service:
        [run] = await chat(service, IVAN, f"Where are {IVAN_PENDING} and {IVAN_DELIVERED}?")
        assert (
            f"Order {IVAN_PENDING} is pending" in run["reply"]
            and f"Order {IVAN_DELIVERED} was delivered" in run["reply"]
        )


async def test_no_to_the_second_request_leaves_it(sqlite_url: str) -> None:
    async with running_service(sqlite_url) as service:
        _, declined = await chat(service, IVAN, f"Where is {IVAN_PENDING}? And cancel {IVAN_OTHER_PENDING}", "no")
        assert declined["reply"] == "Alright, I'll leave that as it is."
        assert (await stored_order(service, IVAN_OTHER_PENDING)).status == "pending"


# 3. No loops


async def test_pay_with_my_credit_card_finds_the_card(sqlite_url: str) -> None:
    async with running_service(sqlite_url) as service:
        [proposed] = await chat(service, ISABELLA, "I'd like to pay #W4923227 with my credit card instead")
        assert proposed["pending_confirmation"]["arguments"]["payment_method_id"] == "credit_card_8897086"


async def test_the_card_an_order_is_paid_with_is_not_offered_again(sqlite_url: str) -> None:
    async with running_service(sqlite_url) as service:
        [run] = await chat(service, OMAR, "Can I pay #W1080318 with my credit card?")
        assert run["status"] == "completed"
        assert (
            run["reply"]
            == "Order #W1080318 is already paid with Mastercard ending 9843, so there is nothing to change."
        )


async def test_yes_answers_a_question_that_offered_one_method(sqlite_url: str) -> None:
    async with running_service(sqlite_url) as service:
        asked, proposed = await chat(service, OMAR, "Please change the payment method of #W1080318", "yes")
        assert asked["reply"] == "Shall I use your gift card (balance $91.00)?"
        assert proposed["pending_confirmation"]["arguments"]["payment_method_id"] == "gift_card_3749819"


async def test_methods_are_offered_by_name_once_and_a_word_picks_one(sqlite_url: str) -> None:
    async with running_service(sqlite_url) as service:
        asked, proposed = await chat(service, ISABELLA, "Change how #W4923227 is paid", "the paypal one")
        assert asked["reply"] == (
            "Which payment method should I use: Visa ending 8902; gift card (balance $60.00); PayPal?"
        )
        assert proposed["pending_confirmation"]["arguments"]["payment_method_id"] == "paypal_1621947"


async def test_a_second_misunderstanding_gets_a_person_not_the_same_question(sqlite_url: str) -> None:
    async with running_service(sqlite_url) as service:
        asked, again = await chat(service, ISABELLA, "Change how #W4923227 is paid", "hmm, whichever you think")
        assert asked["reply"].startswith("Which payment method")
        assert again["status"] == "handed_off"
        # It reads the order and the profile again, finds the same question to ask, and hands off instead.
        assert await tools_called(service, again) == [
            "get_order_details",
            "get_customer_profile",
            "transfer_to_human_agents",
        ]


async def test_two_unreadable_messages_in_a_row_get_a_person(sqlite_url: str) -> None:
    async with running_service(sqlite_url) as service:
        first, second = await chat(service, JAMES, "blorp zibble", "qwerty uiop")
        assert first["status"] == "completed" and "didn't understand" in first["reply"]
        assert second["status"] == "handed_off"


# 4. Small talk


async def test_small_talk_gets_short_different_fitting_replies(sqlite_url: str) -> None:
    async with running_service(sqlite_url) as service:
        runs = await chat(
            service, JAMES, "hello", "how are you?", "are you a bot?", "are you a real person?", "thanks, bye!"
        )
    replies = [r["reply"] for r in runs]
    assert all(r["status"] == "completed" for r in runs)  # "real person" is a question, not a request for one
    assert len(set(replies[:3])) == 3 and replies[2] == replies[3]
    hello, how, bot, _, bye = replies
    assert "offline" in hello
    assert "doing well" in how and len(how.split()) < 30
    assert "automated assistant" in bot and "not a person" in bot
    assert not re.search(r"\b(claude|i am a (person|human)|i'm a (person|human))\b", bot.lower())
    assert "goodbye" in bye.lower() and len(bye.split()) < 15


async def test_thanks_after_an_answer_is_not_the_greeting(sqlite_url: str) -> None:
    async with running_service(sqlite_url) as service:
        _, thanks = await chat(service, JAMES, "Where is #W2611340?", "great, thanks")
        assert thanks["reply"] == "You're welcome! If there's anything else, I'm here."


async def test_thanks_in_the_middle_of_a_question_ends_it_instead_of_asking_again(sqlite_url: str) -> None:
    async with running_service(sqlite_url) as service:
        asked, thanks = await chat(service, IVAN, "I want to cancel an order", "ok, thanks anyway")
        assert asked["reply"].endswith("?")
        assert thanks["status"] == "completed" and thanks["reply"].startswith("You're welcome")


# 5. Anger


async def test_an_angry_customer_is_handed_to_a_person(sqlite_url: str) -> None:
    for said in (
        "this is ridiculous, I want a human",
        "WHY HAS MY ORDER STILL NOT ARRIVED",
        "this shit service is useless",
        "Where is #W2611340?? this is unacceptable",
    ):
        async with running_service(sqlite_url) as service:
            [run] = await chat(service, JAMES, said)
            assert run["status"] == "handed_off", said
            assert "a person on our support team" in run["reply"]
            assert await tools_called(service, run) == ["transfer_to_human_agents"]


# 6. Customer-facing names, not internal ids


async def test_an_order_is_described_without_internal_ids(sqlite_url: str) -> None:
    async with running_service(sqlite_url) as service:
        [run] = await chat(service, JAMES, "Where is my order #W2611340?")
        assert "payment of $536.65 (your gift card)" in run["reply"] and "1725971" not in run["reply"]
        assert "Water Bottle (1000ml, glass, blue)" in run["reply"]
        assert not INTERNAL_ID.search(run["reply"]), run["reply"]


async def test_items_are_named_in_the_customers_words(sqlite_url: str) -> None:
    earbuds = item(IVAN_DELIVERED, "Wireless Earbuds")
    async with running_service(sqlite_url) as service:
        [proposed] = await chat(service, IVAN, f"I want to return the earbuds from {IVAN_DELIVERED}")
        assert proposed["pending_confirmation"]["arguments"]["item_ids"] == [earbuds["item_id"]]


async def test_the_account_summary_names_methods_as_the_customer_knows_them(sqlite_url: str) -> None:
    async with running_service(sqlite_url) as service:
        [run] = await chat(service, ISABELLA, "What's on my account?")
        assert "Visa ending 8902" in run["reply"] and "PayPal" in run["reply"]
        assert not INTERNAL_ID.search(run["reply"]), run["reply"]


def test_a_long_message_is_read_in_one_pass() -> None:
    """The largest message the API takes, in many short pieces, is read quickly (each piece once)."""
    message = ("cancel #W2611340, where is it, " * 300)[:8192]
    started = time.perf_counter()
    reading = read(message)
    assert time.perf_counter() - started < 1.5  # about 0.05 s; reading the pieces again each time took 10 s
    assert reading.intent is not None and [r.slots.order_ids for r in reading.requests] == [("#W2611340",)]


async def test_other_options_of_an_item_are_listed_by_their_values(sqlite_url: str) -> None:
    bottle = item("#W2611340", "Water Bottle")
    async with running_service(sqlite_url) as service:
        [run] = await chat(service, JAMES, "What other colours does the water bottle in order #W2611340 come in?")
        product = data.store()["products"][bottle["product_id"]]
        others = [v for v in product["variants"].values() if v["available"] and v["item_id"] != bottle["item_id"]]
        assert run["reply"].startswith("The Water Bottle (1000ml, glass, blue) also comes in: ")
        assert ", ".join(others[0]["options"].values()) in run["reply"]
        assert await tools_called(service, run) == ["get_order_details", "get_product_details"]
        assert not INTERNAL_ID.search(run["reply"]), run["reply"]


async def test_what_the_store_sells_is_listed_by_name(sqlite_url: str) -> None:
    async with running_service(sqlite_url) as service:
        [run] = await chat(service, JAMES, "What kinds of products do you sell?")
        assert run["reply"].startswith("We sell: ") and "Water Bottle" in run["reply"]
        assert await tools_called(service, run) == ["list_product_types"]
        assert not INTERNAL_ID.search(run["reply"]), run["reply"]


# 7. The approver's decision passed on


async def held_refund(service: ServiceClient, amount: int) -> tuple[str, str]:
    conversation = await service.new_conversation(JAMES)
    [asked] = await chat(
        service, JAMES, f"Order #W2611340 arrived damaged, please refund ${amount}", conversation=conversation
    )
    held = await answer(service, JAMES, conversation, asked)
    assert held["status"] == "awaiting_approval", held
    return conversation, held["pending_action"]["approval_id"]


async def test_an_amended_approval_tells_the_customer_the_change_and_the_note(sqlite_url: str) -> None:
    async with running_service(sqlite_url) as service:
        _, approval_id = await held_refund(service, 150)
        original = (await service.http.get(f"/v1/approvals/{approval_id}", headers=AGENT)).json()
        decided = await service.http.post(
            f"/v1/approvals/{approval_id}/approve",
            json={
                "note": "The bottle can be replaced, so a partial refund",
                "arguments": {**original["arguments"], "amount": 120},
            },
            headers=AGENT,
        )
        reply = decided.json()["run"]["reply"]
        assert reply.startswith("A team member approved it with a change: the amount is $120.00 instead of $150.00.")
        assert 'Their note: "The bottle can be replaced, so a partial refund".' in reply
        assert "Done: I've refunded $120.00 on order #W2611340" in reply


async def test_a_rejection_tells_the_customer_the_reason(sqlite_url: str) -> None:
    async with running_service(sqlite_url) as service:
        _, approval_id = await held_refund(service, 150)
        decided = await service.http.post(
            f"/v1/approvals/{approval_id}/reject",
            json={"note": "Damage was not reported within 30 days"},
            headers=AGENT,
        )
        reply = decided.json()["run"]["reply"]
        assert reply == (
            'A team member reviewed my request to give that refund and declined it. Their reason: "Damage was not '
            'reported within 30 days". Nothing was changed.'
        )


async def test_a_plain_approval_passes_on_the_note(sqlite_url: str) -> None:
    async with running_service(sqlite_url) as service:
        _, approval_id = await held_refund(service, 150)
        decided = await service.http.post(
            f"/v1/approvals/{approval_id}/approve", json={"note": "Sorry about the damage"}, headers=AGENT
        )
        reply = decided.json()["run"]["reply"]
        assert reply.startswith('A team member approved it. Their note: "Sorry about the damage". Done: I\'ve refunded')


# 8. Policy questions from the help centre, in the customer's language


async def test_policy_questions_are_answered_from_the_help_centre_in_the_customers_language(sqlite_url: str) -> None:
    async with running_service(sqlite_url) as service:
        english, spanish, german = await chat(
            service,
            JAMES,
            "What is your return policy",
            "¿Cuál es su política de devolución?",
            "Wie funktioniert die Rückgabe bei euch?",
        )
        for run in (english, spanish, german):
            assert run["reply"].endswith("(https://help.example-store.com/articles/returns-policy)"), run["reply"]
            assert await tools_called(service, run) == ["search_help_centre"]
        assert english["reply"].startswith("From our help centre: ")
        assert spanish["reply"].startswith("Esto dice nuestro centro de ayuda (el artículo está en inglés): ")
        assert "\n\nFuente: " in spanish["reply"]
        assert german["reply"].startswith("Das steht in unserem Hilfe-Center (der Artikel ist auf Englisch): ")
