"""The grounding check on its own: each kind of fact a reply states is found, compared the way people write it,
and flagged only when nothing the run saw supports it."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from agent.models.base import Message
from agent.quality.flags import FlagKind
from agent.quality.grounding import Evidence, Ungrounded, check, evidence_of
from agent.quality.reply_check import ReplyCheck
from testkit import fixture_data

PRODUCTS = frozenset({"water bottle", "office chair"})


def order_and_profile() -> list[str]:
    return [json.dumps(fixture_data.order("#W2611340")), json.dumps(fixture_data.user("noah_brown_6181"))]


@pytest.mark.parametrize(
    ("reply", "kind", "stated"),
    [
        ("Order #W9999999 is on its way.", FlagKind.UNGROUNDED_ORDER, "#W9999999"),
        ("The order total is $412.00.", FlagKind.UNGROUNDED_AMOUNT, "$412.00"),
        ("Your tracking number is 1Z999AA10123456784.", FlagKind.UNGROUNDED_TRACKING, "1Z999AA10123456784"),
        ("It left our warehouse on May 3, 2024.", FlagKind.UNGROUNDED_DATE, "May 3, 2024"),
        ("It was paid with your Visa ending 1111.", FlagKind.UNGROUNDED_PAYMENT, "Visa ending 1111"),
        (
            "You ordered the Water Bottle (500ml, steel, red).",
            FlagKind.UNGROUNDED_ITEM,
            "Water Bottle (500ml, steel, red)",
        ),
        ("Refunds reach your card within 3 business days.", FlagKind.UNGROUNDED_POLICY, "3 business days"),
        ("A restocking fee applies to returns.", FlagKind.UNGROUNDED_POLICY, "restocking fee"),
    ],
)
def test_a_fact_the_run_never_saw_is_flagged_as_stated(reply: str, kind: FlagKind, stated: str) -> None:
    found = check(reply, evidence_of(order_and_profile()), items=PRODUCTS)
    assert [(u.kind, u.stated) for u in found] == [(kind, stated)]


@pytest.mark.parametrize(
    "reply",
    [
        "Order #W2611340 has shipped.",
        "Order W2611340 has shipped.",
        "You paid $536.65 for it.",
        "You paid 536.65 dollars, that is $536.65.",
        "Tracking number: 357962501027.",
        "It holds the Water Bottle (1000ml, glass, blue) and the Office Chair (fabric, black, fixed, standard).",
        "Your Mastercard ending 9212 or PayPal can pay for it.",
        "Please contact us (we answer fast) if anything is missing.",
        "It has been three days? Sorry about that.",
    ],
)
def test_facts_the_run_saw_are_grounded_however_they_are_written(reply: str) -> None:
    assert check(reply, evidence_of(order_and_profile()), items=PRODUCTS) == []


def test_amounts_and_dates_compare_as_values() -> None:
    seen = evidence_of(['{"amount": 1053, "placed": "2024-05-03T10:00:00Z"}'])
    assert check("You were charged $1,053.00 on 3 May 2024.", seen) == []
    assert [u.stated for u in check("You were charged $1,053.01 on May 4, 2024.", seen)] == ["$1,053.01", "May 4, 2024"]


def test_a_policy_window_is_grounded_by_a_passage_that_states_it() -> None:
    passage = "Refunds to a credit card or a PayPal account take **5 to 7 business days** to show up."
    reply = "The refund shows up on your card within 5-7 business days."
    assert [u.kind for u in check(reply, evidence_of([]))] == [FlagKind.UNGROUNDED_POLICY]
    assert check(reply, evidence_of([passage])) == []


def test_a_fact_stated_twice_is_one_flag() -> None:
    found = check("$412.00 now, and $412.00 later.", evidence_of([]))
    assert [u.stated for u in found] == ["$412.00"]


class RecordingCheck(ReplyCheck):
    threads: list[int]

    def _check(self, reply: str, texts: list[str], records: list[Any], known: Evidence) -> list[Ungrounded]:
        self.threads.append(threading.get_ident())
        return super()._check(reply, texts, records, known)


@pytest.mark.parametrize("lookups", [1, 40])
async def test_a_long_conversation_is_checked_off_the_event_loop_with_the_same_result(lookups: int) -> None:
    checker = RecordingCheck()
    checker.threads = []
    results = [Message.user_text(text) for text in order_and_profile() * lookups]
    found = await checker.ungrounded("Order #W2611340: $536.65, not $412.00.", results, len(results), (), "v", [])
    assert [u.stated for u in found] == ["$412.00"]
    on_loop = checker.threads == [threading.get_ident()]
    assert on_loop is (lookups == 1)
