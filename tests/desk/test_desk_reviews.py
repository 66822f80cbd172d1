"""The review queue (`/desk/reviews`) and the run review's flags: which runs are listed, in which order, under
which filter, a page at a time; bad filter values answered on the page; the ungrounded parts of a reply marked
without letting the reply's own text become markup. Flags are inserted as the grounding checker and the feedback
endpoint record them (`run_flags`)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlmodel import col, update

from agent.conversations.tables import Run, RunFlag
from agent.quality.flags import FlagKind
from api.desk.wording import FLAG_WORDS, flag_words
from basics.clock import utcnow
from testkit.desk import DeskUser, sign_in
from testkit.service import ServiceClient, running_service

JAMES = "james_li_5688"
ROW = re.compile(r'<tr data-run="([^"]+)">')


async def answered_run(service: ServiceClient, text: str = "Where is my order #W2611340?") -> dict[str, str]:
    conversation = await service.new_conversation(JAMES)
    said = await service.say(JAMES, conversation, text)
    assert said.status_code == 200, said.text
    return {"conversation": conversation, "run": said.json()["run"]["id"]}


async def flag(service: ServiceClient, run: dict[str, str], kind: str, value: str = "", *, ago_s: float = 0) -> None:
    async with service.services.database.session() as db:
        db.add(
            RunFlag(
                run_id=run["run"],
                conversation_id=run["conversation"],
                kind=kind,
                value=value,
                created_at=utcnow() - timedelta(seconds=ago_s),
            )
        )
        await db.commit()


async def listed(service: ServiceClient, user: DeskUser, query: str = "") -> list[str]:
    page = await service.http.get(f"/desk/reviews{query}", headers=user.headers)
    assert page.status_code == 200, page.text
    return ROW.findall(page.text)


def test_every_flag_kind_reads_in_words() -> None:
    for kind in FlagKind:
        words = flag_words(kind.value)
        assert kind.value in FLAG_WORDS and "_" not in words and words[0].isupper(), kind
    assert flag_words("a_newer_kind") == "A newer kind"


@pytest.mark.postgres
async def test_the_queue_lists_flagged_runs_newest_first_and_filters_them(database_url: str) -> None:
    async with running_service(database_url) as service:
        quiet = await answered_run(service)
        disliked = await answered_run(service)
        invented = await answered_run(service)
        await flag(service, disliked, FlagKind.THUMBS_DOWN, ago_s=60)
        await flag(service, invented, FlagKind.UNGROUNDED_AMOUNT, "$412.00", ago_s=30)
        await flag(service, invented, FlagKind.FALLBACK, "the first model timed out", ago_s=20)
        async with service.services.database.session() as db:
            await db.exec(update(Run).where(col(Run.id) == invented["run"]).values(prompt_version="v2"))
            await db.commit()
        alice = await sign_in(service.http, "agent_alice", "agent")

        assert await listed(service, alice) == [invented["run"], disliked["run"]]  # once each, newest flag first
        assert quiet["run"] not in await listed(service, alice)
        assert await listed(service, alice, "?kind=thumbs_down") == [disliked["run"]]
        assert await listed(service, alice, "?kind=ungrounded_amount&prompt=v2") == [invented["run"]]
        assert await listed(service, alice, "?prompt=v1") == [disliked["run"]]
        assert await listed(service, alice, "?prompt=v9") == []
        model = (await service.services.runs.get_run(invented["run"])).model_name
        assert await listed(service, alice, f"?model={model}") == [invented["run"], disliked["run"]]
        assert await listed(service, alice, "?model=claude-opus-4-6") == []
        today = utcnow().date()
        assert await listed(service, alice, f"?from={today}&to={today}") == [invented["run"], disliked["run"]]
        assert await listed(service, alice, f"?to={today - timedelta(days=1)}") == []

        page = (await service.http.get("/desk/reviews?kind=thumbs_down", headers=alice.headers)).text
        assert "The customer said it did not help" in page
        assert f'href="/desk/conversations/{disliked["conversation"]}#run-{disliked["run"]}"' in page
        assert 'aria-current="page">Reviews' in page


@pytest.mark.parametrize(
    ("query", "problem"),
    [
        ("?kind=made_up", "is not a kind of flag"),
        ("?from=2026-13-01", "is not a date"),
        ("?from=2026-02-10&to=2026-02-01", "ends before it starts"),
        ("?from=1900-01-01", "choose a day between"),
        ("?after=12abc", "page position"),
        ("?after=99999999999999", "page position"),
        ("?model=" + "x" * 101, "at most 100 characters"),
        ("?prompt=v%00", "NUL"),
    ],
)
async def test_a_bad_filter_value_is_said_on_the_page(sqlite_url: str, query: str, problem: str) -> None:
    async with running_service(sqlite_url) as service:
        alice = await sign_in(service.http, "agent_alice", "agent")
        page = await service.http.get(f"/desk/reviews{query}", headers=alice.headers)
        assert page.status_code == 422
        assert problem in page.text and 'id="problem"' in page.text


async def test_the_queue_pages_by_its_last_flag_without_repeating_a_run(sqlite_url: str) -> None:
    async with running_service(sqlite_url) as service:
        first = await answered_run(service)
        now = utcnow()
        async with service.services.database.session() as db:
            for i in range(55):
                run = Run(
                    id=f"run_paged_{i:03d}",
                    conversation_id=first["conversation"],
                    customer_id=JAMES,
                    status="completed",
                    reply=f"answer {i}",
                    model_name="offline",
                    started_at=now - timedelta(minutes=i),
                )
                db.add(run)
                await db.flush()
                for kind in (FlagKind.FAILED, FlagKind.THUMBS_DOWN):  # two flags, one row
                    db.add(
                        RunFlag(
                            run_id=run.id,
                            conversation_id=first["conversation"],
                            kind=kind,
                            created_at=now - timedelta(minutes=i),
                        )
                    )
            await db.commit()
        alice = await sign_in(service.http, "agent_alice", "agent")
        page = await service.http.get("/desk/reviews", headers=alice.headers)
        one = ROW.findall(page.text)
        assert one == [f"run_paged_{i:03d}" for i in range(50)]
        older = re.search(r'href="([^"]+)" id="older"', page.text)
        assert older is not None
        two = ROW.findall((await service.http.get(older.group(1).replace("&amp;", "&"), headers=alice.headers)).text)
        assert two == [f"run_paged_{i:03d}" for i in range(50, 55)]
        assert 'id="older"' not in (await service.http.get(older.group(1), headers=alice.headers)).text


async def test_the_queue_needs_a_desk_session(sqlite_url: str) -> None:
    async with running_service(sqlite_url) as service:
        page = await service.http.get("/desk/reviews")
        assert page.status_code == 303 and page.headers["location"] == "/desk/sign-in"


async def test_the_review_marks_ungrounded_parts_and_keeps_the_reply_text(sqlite_url: str) -> None:
    async with running_service(sqlite_url) as service:
        run = await answered_run(service)
        reply = 'Your refund of $412.00 <script>alert("x")</script> arrives on 12 May & costs $412.00.'
        async with service.services.database.session() as db:
            await db.exec(update(Run).where(col(Run.id) == run["run"]).values(reply=reply))
            await db.commit()
        await flag(service, run, FlagKind.UNGROUNDED_AMOUNT, "$412.00")
        await flag(service, run, FlagKind.UNGROUNDED_DATE, "12 May")
        await flag(service, run, FlagKind.UNGROUNDED_ORDER, "<script>")  # a value is text too, never markup
        await flag(service, run, FlagKind.THUMBS_DOWN)
        alice = await sign_in(service.http, "agent_alice", "agent")
        page = (await service.http.get(f"/desk/conversations/{run['conversation']}", headers=alice.headers)).text
        quoted = re.search(rf'<blockquote class="reply" id="reply-{run["run"]}">(.*?)</blockquote>', page, re.S)
        assert quoted is not None
        shown = quoted.group(1)
        assert shown.count('<mark class="ungrounded">$412.00</mark>') == 2
        assert '<mark class="ungrounded">12 May</mark>' in shown
        assert '<mark class="ungrounded">&lt;script&gt;</mark>alert' in shown
        assert "<script" not in shown and "&amp; costs" in shown
        assert "States an amount no order, message or help article showed" in page
        assert "The customer said it did not help" in page
