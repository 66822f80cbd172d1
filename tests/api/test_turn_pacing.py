"""The worker's pacing through the chat API: turns waiting on the model hold no place, new conversations wait their
turn, and the setting is honoured."""

from __future__ import annotations

import asyncio

from agent.limits.pacing import TurnPacer
from agent.models.base import ModelRequest, ModelResponse, TextSink
from agent.models.scripted import say
from testkit.service import running_service

CUSTOMERS = ("james_li_5688", "sofia_rossi_8776", "mei_kovacs_8020")


class MeetingModel:
    """Answers only once every customer's turn is waiting on it at the same moment."""

    provider = "meeting"
    name = "meeting-1"

    def __init__(self, turns: int, pacer: list[TurnPacer]) -> None:
        self.everyone = asyncio.Barrier(turns)
        self.pacer = pacer
        self.places_in_use: list[int] = []

    async def complete(self, request: ModelRequest, *, on_text: TextSink | None = None) -> ModelResponse:
        self.places_in_use.append(self.pacer[0].in_use)
        await self.everyone.wait()
        return say("All of you at once: here is your answer.")


async def test_turns_waiting_on_the_model_hold_no_place(database_url: str) -> None:
    """One place, three customers: each turn's model call waits until all three are in it. That can only happen
    if a turn gives its place up while it waits on the model (otherwise the first would keep it, and wait for
    ever)."""
    pacer: list[TurnPacer] = []
    model = MeetingModel(len(CUSTOMERS), pacer)
    async with running_service(database_url, model, SUPPORT_TURNS_AT_ONCE=1) as service:
        pacer.append(service.services.loop.pacer)
        assert pacer[0].places == 1
        conversations = [await service.new_conversation(customer) for customer in CUSTOMERS]
        async with asyncio.timeout(30):
            answers = await asyncio.gather(
                *(
                    service.say(customer, conversation, "Where is my order?")
                    for customer, conversation in zip(CUSTOMERS, conversations, strict=True)
                )
            )
        assert [a.status_code for a in answers] == [200, 200, 200]
        assert {a.json()["run"]["status"] for a in answers} == {"completed"}
        assert pacer[0].in_use == 0 and pacer[0].waiting == 0
    assert model.places_in_use[-1] == 0  # the last to arrive found every place given up


async def test_no_limit_when_the_setting_is_zero(sqlite_url: str) -> None:
    async with running_service(sqlite_url, SUPPORT_TURNS_AT_ONCE=0) as service:
        assert service.services.loop.pacer.places is None
        conversation = await service.new_conversation(CUSTOMERS[0])
        answer = await service.say(CUSTOMERS[0], conversation, "hello")
        assert answer.status_code == 200, answer.text
    async with running_service(sqlite_url) as service:
        assert service.services.loop.pacer.places == 4


async def test_a_new_conversation_waits_for_a_place(database_url: str) -> None:
    """With every place taken, a new conversation is stored only once one is given back."""
    async with running_service(database_url, SUPPORT_TURNS_AT_ONCE=1) as service:
        pacer = service.services.loop.pacer
        held, release = asyncio.Event(), asyncio.Event()

        async def a_turn() -> None:  # the worker's one place, held as a turn holds it
            async with pacer.turn():
                held.set()
                await release.wait()

        holder = asyncio.create_task(a_turn())
        await held.wait()
        opening = asyncio.create_task(service.new_conversation(CUSTOMERS[0]))
        done, _ = await asyncio.wait({opening}, timeout=0.5)
        assert not done and pacer.waiting == 1
        release.set()
        async with asyncio.timeout(30):
            conversation = await opening
            await holder
        assert conversation.startswith("conv_")
        assert pacer.in_use == 0 and pacer.waiting == 0
