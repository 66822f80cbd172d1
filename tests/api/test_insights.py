"""The store's figures (`agent.quality.insights`) on both databases, from a history whose figures are counted by
hand (`testkit.store_figures`), and `GET /v1/insights` for staff only, with its range checked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from agent.quality import insights
from basics.database import Database
from testkit.service import bearer, running_service
from testkit.store_figures import seed_history, today_at

NOW = datetime(2030, 3, 10, 14, 30, tzinfo=UTC)
HOUR_S = 3600.0


def approx(value: float) -> object:
    return pytest.approx(value, abs=1e-3)  # SQLite's julianday keeps time to about a millisecond


async def test_the_figures_per_day_match_the_history_counted_by_hand(db: Database) -> None:
    await seed_history(db, NOW)
    figures = await insights.compute(db, days=2, hours=3, now=NOW)

    yesterday, today = figures.days
    assert [yesterday.start, today.start] == [today_at(NOW, 0) - timedelta(days=1), today_at(NOW, 0)]
    # yesterday: E alone (F started a minute before the range)
    assert (yesterday.conversations, yesterday.runs) == (1, 1)
    assert yesterday.resolution_rate == 1 and yesterday.handoff_rate == 0
    assert yesterday.rated == 0 and yesterday.helpful_rate is None
    assert yesterday.flagged_rate == 1 and yesterday.fallback_rate == 0
    assert yesterday.cost_usd == pytest.approx(0.03) and yesterday.cost_per_conversation_usd == pytest.approx(0.03)
    assert yesterday.latency_p50_s == approx(3) and yesterday.latency_p95_s == approx(3)
    # Y was open at midnight, since 20:00
    assert yesterday.oldest_open_approval_s == approx(4 * HOUR_S)

    # today: A, B, C, D; B handed off, C failed: 2 of 4 resolved; 5 runs, a2 and b1 flagged, a2 on the fallback
    assert (today.conversations, today.runs) == (4, 5)
    assert today.resolution_rate == pytest.approx(2 / 4) and today.handoff_rate == pytest.approx(1 / 4)
    assert today.rated == 2 and today.helpful_rate == pytest.approx(1 / 2)
    assert today.flagged_rate == pytest.approx(2 / 5) and today.fallback_rate == pytest.approx(1 / 5)
    assert today.cost_usd == pytest.approx(0.035) and today.cost_per_conversation_usd == pytest.approx(0.035 / 4)
    # finished runs took 1, 2, 4 and 10 s (d1 still runs): nearest rank, k = ceil(p x 4): 2nd and 4th
    assert today.latency_p50_s == approx(2) and today.latency_p95_s == approx(10)
    # X opened at 12:00 and still waits at 14:30
    assert today.oldest_open_approval_s == approx(2.5 * HOUR_S)
    assert figures.oldest_open_approval_s == approx(2.5 * HOUR_S)

    assert [(t.name, t.count) for t in figures.top_tools] == [("get_order_details", 3), ("transfer_to_human_agents", 1)]
    assert [(f.name, f.count) for f in figures.top_flags] == [("ungrounded_amount", 2), ("thumbs_down", 1)]


async def test_the_figures_per_hour_match_the_history_counted_by_hand(db: Database) -> None:
    await seed_history(db, NOW)
    noon, one, two = (await insights.compute(db, days=1, hours=3, now=NOW)).hours

    assert [noon.start, one.start, two.start] == [today_at(NOW, 12), today_at(NOW, 13), today_at(NOW, 14)]
    assert (noon.conversations, noon.runs, noon.cost_usd) == (0, 0, 0)
    assert noon.resolution_rate is None and noon.flagged_rate is None and noon.latency_p50_s is None
    assert noon.cost_per_conversation_usd is None
    assert noon.oldest_open_approval_s == approx(HOUR_S)  # X, opened at 12:00, at 13:00

    assert (one.conversations, one.runs) == (1, 1)
    assert one.resolution_rate == 0 and one.handoff_rate == 0  # C failed
    assert one.latency_p50_s == approx(10) and one.latency_p95_s == approx(10)
    assert one.oldest_open_approval_s == approx(2 * HOUR_S)

    # A, B, D; a1, a2, b1, d1: finished in 1, 2 and 4 s, so k = ceil(0.5 x 3) = 2 and ceil(0.95 x 3) = 3
    assert (two.conversations, two.runs) == (3, 4)
    assert two.resolution_rate == pytest.approx(2 / 3) and two.handoff_rate == pytest.approx(1 / 3)
    assert two.flagged_rate == pytest.approx(2 / 4) and two.fallback_rate == pytest.approx(1 / 4)
    assert two.helpful_rate == pytest.approx(1 / 2)
    assert two.latency_p50_s == approx(2) and two.latency_p95_s == approx(4)
    assert two.oldest_open_approval_s == approx(2.5 * HOUR_S)


async def test_a_quiet_store_has_no_rates_rather_than_zero_ones(db: Database) -> None:
    figures = await insights.compute(db, now=NOW)
    assert len(figures.days) == insights.DEFAULT_DAYS and len(figures.hours) == insights.DEFAULT_HOURS
    assert all(b.conversations == 0 and b.resolution_rate is None and b.latency_p95_s is None for b in figures.days)
    assert figures.top_tools == [] and figures.top_flags == [] and figures.oldest_open_approval_s is None


async def test_the_api_answers_staff_with_the_same_figures(database_url: str) -> None:
    now = datetime.now(UTC)
    async with running_service(database_url) as service:
        database = service.services.database
        # the history laid out around yesterday 14:30: all of it in the last three days but F
        moment = now.replace(hour=14, minute=30, second=0, microsecond=0) - timedelta(days=1)
        await seed_history(database, moment)
        answer = await service.http.get("/v1/insights?days=3&hours=48", headers=bearer("agent_alice", role="agent"))
        assert answer.status_code == 200, answer.text
        body = answer.json()
        expected = await insights.compute(database, days=3, hours=48, now=datetime.fromisoformat(body["generated_at"]))
        assert len(body["days"]) == 3 and len(body["hours"]) == 48
        assert [d["conversations"] for d in body["days"]] == [d.conversations for d in expected.days]
        assert [h["runs"] for h in body["hours"]] == [h.runs for h in expected.hours]
        assert sum(d["runs"] for d in body["days"]) == 6
        assert body["top_tools"][0] == {"name": "get_order_details", "count": 3}
        assert body["oldest_open_approval_s"] > 0

        customer = await service.http.get("/v1/insights", headers=bearer("james_li_5688"))
        anonymous = await service.http.get("/v1/insights")
        too_far = await service.http.get("/v1/insights?days=91", headers=bearer("agent_alice", role="agent"))
        no_hours = await service.http.get("/v1/insights?hours=0", headers=bearer("agent_alice", role="agent"))
    assert customer.status_code == 403 and customer.json()["error"]["code"]
    assert anonymous.status_code == 401
    assert too_far.status_code == 422 and "days" in too_far.text
    assert no_hours.status_code == 422 and "hours" in no_hours.text
