"""The customer's verdict on an answer ("Was this helpful?") through the API: its own customer only, once per
answer (also when two arrive at once), stored with what produced the answer, told to the feed, counted, and a
"no" puts the run in the review queue."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlmodel import col, select

from agent.conversations.tables import ConversationEvent, Feedback, RunFlag
from agent.models.scripted import ScriptedModel, say
from testkit.service import ServiceClient, bearer, running_service
from testkit.telemetry import recording

JAMES = "james_li_5688"
NOAH = "noah_brown_6181"


async def answered(service: ServiceClient) -> tuple[str, dict[str, Any]]:
    conversation = await service.new_conversation(JAMES)
    answer = await service.say(JAMES, conversation, "Hello there")
    assert answer.status_code == 200, answer.text
    return conversation, answer.json()["run"]


async def verdict(service: ServiceClient, customer: str, conversation: str, **body: Any) -> Any:
    return await service.http.post(f"/v1/conversations/{conversation}/feedback", json=body, headers=bearer(customer))


async def test_a_thumbs_down_is_stored_with_the_answer_told_to_the_feed_flagged_and_counted(database_url: str) -> None:
    with recording() as seen:
        async with running_service(database_url, telemetry=seen.telemetry) as service:
            conversation, run = await answered(service)
            given = await verdict(
                service, JAMES, conversation, run_id=run["id"], helpful=False, comment="  It did not\u200b answer me.  "
            )
            assert given.status_code == 201, given.text
            assert given.json()["comment"] == "It did not answer me."
            assert (given.json()["run_id"], given.json()["helpful"]) == (run["id"], False)
            async with service.services.database.session(readonly=True) as session:
                (row,) = (await session.exec(select(Feedback))).all()
                flags = (await session.exec(select(RunFlag))).all()
                events = (
                    await session.exec(select(ConversationEvent).where(col(ConversationEvent.kind) == "feedback.given"))
                ).all()
            assert (row.model_name, row.route, row.prompt_version) == (
                run["model"]["name"],
                run["route"],
                run["prompt_version"],
            )
            assert (row.customer_id, row.helpful) == (JAMES, False)
            assert [(f.run_id, f.kind, f.value) for f in flags] == [(run["id"], "thumbs_down", "It did not answer me.")]
            assert [e.data for e in events] == [
                {
                    "conversation_id": conversation,
                    "run_id": run["id"],
                    "helpful": False,
                    "comment": "It did not answer me.",
                }
            ]
        counted = seen.points()
        (point,) = counted["support.feedback"]
        assert point.value == 1
        assert point.attributes == {
            "helpful": "false",
            "support.route": run["route"],
            "support.prompt.version": run["prompt_version"],
        }
        assert [p.attributes["kind"] for p in counted["support.run.flags"]] == ["thumbs_down"]


async def test_once_per_answer_and_only_for_its_own_customer(database_url: str) -> None:
    async with running_service(database_url) as service:
        conversation, run = await answered(service)
        missing = await verdict(service, JAMES, "conv_" + "0" * 32, run_id=run["id"], helpful=True)
        foreign = await verdict(service, NOAH, conversation, run_id=run["id"], helpful=True)
        assert (missing.status_code, foreign.status_code) == (404, 404)
        assert missing.json() == foreign.json()
        other = await service.new_conversation(JAMES)
        elsewhere = await verdict(service, JAMES, other, run_id=run["id"], helpful=True)
        assert elsewhere.status_code == 404
        first = await verdict(service, JAMES, conversation, run_id=run["id"], helpful=True)
        again = await verdict(service, JAMES, conversation, run_id=run["id"], helpful=False)
        assert (first.status_code, again.status_code) == (201, 409)
        assert again.json()["error"]["code"] == "feedback_exists"
        async with service.services.database.session(readonly=True) as session:
            assert len((await session.exec(select(Feedback))).all()) == 1
            assert (await session.exec(select(RunFlag))).all() == []  # "yes" flags nothing, and the "no" was refused
        staff = await service.http.post(
            f"/v1/conversations/{conversation}/feedback",
            json={"run_id": run["id"], "helpful": True},
            headers=bearer("agent_alice", role="agent"),
        )
        assert staff.status_code == 403


async def test_bad_comments_and_ids_are_refused_with_the_field_named(sqlite_url: str) -> None:
    async with running_service(sqlite_url) as service:
        conversation, run = await answered(service)
        for body, field in [
            ({"run_id": run["id"], "helpful": True, "comment": "x" * 1001}, "comment"),
            ({"run_id": run["id"], "helpful": True, "comment": "bad\x00byte"}, "comment"),
            ({"run_id": "run with spaces", "helpful": True}, "run_id"),
            ({"run_id": run["id"]}, "helpful"),
        ]:
            refused = await verdict(service, JAMES, conversation, **body)
            assert refused.status_code == 422, body
            assert field in refused.text
        fine = await verdict(service, JAMES, conversation, run_id=run["id"], helpful=True, comment="\u200b \u200b")
        assert (fine.status_code, fine.json()["comment"]) == (201, None)


async def test_an_answer_without_a_reply_yet_takes_no_verdict(sqlite_url: str) -> None:
    model = ScriptedModel([say("Hello!")])
    async with running_service(sqlite_url, model) as service:
        conversation, run = await answered(service)
        started = service.services.runs.resumed_run(conversation, JAMES, resumed_from=run["id"])
        async with service.services.database.session() as session:
            session.add(started)
            await session.commit()
        early = await verdict(service, JAMES, conversation, run_id=started.id, helpful=True)
        assert (early.status_code, early.json()["error"]["code"]) == (409, "no_reply")


async def test_two_verdicts_sent_at_once_store_one(postgresql_url: str) -> None:
    async with running_service(postgresql_url) as service:
        conversation, run = await answered(service)
        results = await asyncio.gather(
            *(
                verdict(service, JAMES, conversation, run_id=run["id"], helpful=helpful, comment=f"try {i}")
                for i, helpful in enumerate([False, True, False, True])
            )
        )
        assert sorted(r.status_code for r in results) == [201, 409, 409, 409]
        async with service.services.database.session(readonly=True) as session:
            (row,) = (await session.exec(select(Feedback))).all()
            flags = (await session.exec(select(RunFlag))).all()
            events = (
                await session.exec(select(ConversationEvent).where(col(ConversationEvent.kind) == "feedback.given"))
            ).all()
        assert len(flags) == (0 if row.helpful else 1) and len(events) == 1
