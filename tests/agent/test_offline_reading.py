"""What the offline model reads in one message, without a service: intents in the usual phrasings and with
small slips, "never mind" wherever it is said, and postal addresses in the formats customers use."""

from __future__ import annotations

import pytest

from agent.models.offline.reading.addresses import read_address
from agent.models.offline.reading.intents import Intent
from agent.models.offline.reading.text import read


@pytest.mark.parametrize(
    "message",
    [
        "thanks. Actually can I speak to a person about a delivery problem?",
        "Where is #W2611340? also could I talk to someone from customer service",
        "could you get me a human agent please",
        "can I chat with a team member",
    ],
)
def test_a_person_asked_for_anywhere_in_a_message_is_the_request(message: str) -> None:
    assert read(message).intent is Intent.HUMAN


@pytest.mark.parametrize(
    "message", ["I don't want to talk to a person, just tell me where #W2611340 is", "are you a real person?"]
)
def test_a_message_that_only_mentions_a_person_is_not_a_request_for_one(message: str) -> None:
    assert read(message).intent is not Intent.HUMAN


@pytest.mark.parametrize(
    ("message", "intent"),
    [
        ("cancle the first one", Intent.CANCEL),
        ("i want to retrun the shoes", Intent.RETURN),
        ("change the adress of #W4386313", Intent.ADDRESS),
        ("I never got my package for order #W3638028 even though it says delivered", Intent.PROBLEM),
        ("the blender arrived cracked", Intent.PROBLEM),
        ("Order #W2611340 arrived damaged, please refund $150", Intent.REFUND),
        ("what do you do with my personal data", Intent.QUESTION),
        ("is there a phone number", Intent.QUESTION),
        ("and the last one?", None),  # points at an order shown before; not a question for the help centre
        ("the one that was delivered, #W4435622", None),  # says which order, does not ask about its status
    ],
)
def test_intents_read_through_slips_and_descriptions(message: str, intent: Intent | None) -> None:
    assert read(message).intent is intent


@pytest.mark.parametrize(
    "message", ["never mind", "actually never mind", "ok forget it", "no", "oh wait, scratch that"]
)
def test_never_mind_wherever_it_is_said_drops_what_was_open(message: str) -> None:
    assert read(message).no


def test_cancer_is_not_a_misspelt_cancel() -> None:
    assert read("my cancer treatment makes it hard to get to the door").intent is not Intent.CANCEL


US = {"address2": "", "country": "USA"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "123 Main St, Springfield, IL 62701",
            {**US, "address1": "123 Main St", "city": "Springfield", "state": "IL", "zip": "62701"},
        ),
        (
            "change my address to 123 Main St, Springfield, IL 62701, USA please",
            {**US, "address1": "123 Main St", "city": "Springfield", "state": "IL", "zip": "62701"},
        ),
        (
            "55 Oak Ave, Apt 4, Austin, Texas 78701-1234",
            {**US, "address1": "55 Oak Ave", "address2": "Apt 4", "city": "Austin", "state": "TX", "zip": "78701-1234"},
        ),
        (
            "9 Elm Rd\nNew York NY 10001",
            {**US, "address1": "9 Elm Rd", "city": "New York", "state": "NY", "zip": "10001"},
        ),
        (
            "1 Main St, Springfield, IL, 62701",
            {**US, "address1": "1 Main St", "city": "Springfield", "state": "IL", "zip": "62701"},
        ),
        (
            "to 10 Downing St, Flat 2, London, England, UK, SW1A 2AA",
            {
                "address1": "10 Downing St",
                "address2": "Flat 2",
                "city": "London",
                "state": "England",
                "country": "UK",
                "zip": "SW1A 2AA",
            },
        ),
    ],
)
def test_addresses_in_the_formats_customers_write(text: str, expected: dict[str, str]) -> None:
    assert read_address(text) == expected


@pytest.mark.parametrize(
    "text", ["Hi, can you change my address, thanks", "Springfield, IL 62701", "to my office please", "a" * 400]
)
def test_text_that_is_not_an_address_is_not_read_as_one(text: str) -> None:
    assert read_address(text) is None
