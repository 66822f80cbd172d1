"""The long history `benchmarks/large_store.py` measures on (`testkit.history`) is one the service reads as its
own: a seeded conversation reads back through the API as it was seeded, and a new message in it is answered with
the seeded turns as its history, also in a conversation a person answered in after a hand-off."""

from __future__ import annotations

from testkit.history import HEAVY_CUSTOMER, RUNS_PER_CONVERSATION, HistorySize, customer_of, seed_history, seeded
from testkit.service import bearer, running_service
from testkit.turn_cost import QUESTION, QUIET, read_only_turns

SIZE = HistorySize(1_000)
PLAIN = "hc_0"
"""The first seeded conversation: the heavy customer's, five completed turns."""
HANDED_OFF = "hc_3"
"""A conversation whose last turn went to a person, who answered outside the runs."""


async def test_a_seeded_history_reads_back_and_new_messages_see_it(database_url: str) -> None:
    assert not seeded(database_url)
    added = seed_history(database_url, SIZE)
    assert seeded(database_url)
    assert added["runs"] == 1_000 and added["messages"] == 2_000 + added["handoffs"]
    model = read_only_turns(2)
    async with running_service(database_url, model, **QUIET) as service:
        read = await service.http.get(f"/v1/conversations/{PLAIN}", headers=bearer(HEAVY_CUSTOMER))
        plain = await service.say(HEAVY_CUSTOMER, PLAIN, QUESTION)
        owner = customer_of(3, SIZE)
        handed_off = await service.http.get(f"/v1/conversations/{HANDED_OFF}", headers=bearer(owner))
        after_the_person = await service.say(owner, HANDED_OFF, QUESTION)
    assert read.status_code == 200, read.text
    assert [m["role"] for m in read.json()["messages"]] == ["customer", "assistant"] * RUNS_PER_CONVERSATION
    assert {r["status"] for r in read.json()["runs"]} == {"completed"}
    assert plain.json()["run"]["status"] == "completed", plain.text
    assert after_the_person.json()["run"]["status"] == "completed", after_the_person.text
    assert handed_off.json()["messages"][-1]["role"] == "agent"
    seen_in_plain, seen_after_the_person = (request.messages for request in model.requests[::2])
    # Each seeded turn is four messages (question, order read, its result, answer); then the new question.
    assert len(seen_in_plain) == 4 * RUNS_PER_CONVERSATION + 1
    assert len(seen_after_the_person) > 4 * RUNS_PER_CONVERSATION + 1  # the person's message too
