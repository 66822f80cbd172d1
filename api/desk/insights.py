"""The desk's insights page: the store's figures (`agent.quality.insights`) per day and per hour, as charts the
server draws (`api.desk.charts`) and as tables, with the week's most used tools and most frequent flags."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from agent import insights
from api.deps import AppServices
from api.desk.charts import Chart, Series
from api.desk.render import duration, render, usd
from api.desk.signin import Desk
from api.desk.wording import flag_words

router = APIRouter(prefix="/desk", include_in_schema=False)


def tool_words(tool: str) -> str:
    return tool.replace("_", " ").capitalize()


def percent(value: float) -> str:
    return f"{value * 100:.0f} %"


def seconds(value: float) -> str:
    return f"{value:.1f} s" if value < 60 else duration(value)


def dollars(value: float) -> str:
    return f"${value:,.2f}" if value >= 1 or value == 0 else f"${value:.3f}"


def wait(value: float) -> str:
    return duration(value)


def day_label(moment: datetime) -> str:
    return moment.strftime("%a %d %b")


def hour_label(moment: datetime) -> str:
    return moment.strftime("%H:00")


def charts(prefix: str, buckets: Sequence[insights.Bucket], label: Callable[[datetime], str]) -> list[Chart]:
    labels = [label(b.start) for b in buckets]

    def series(name: str, pick: Callable[[insights.Bucket], float | None], css: str = "bar") -> Series:
        return Series(name, [pick(b) for b in buckets], css)

    def rate(key: str, title: str, pick: Callable[[insights.Bucket], float | None]) -> Chart:
        return Chart(f"{prefix}-{key}", title, labels, [series(title, pick)], percent, ceiling=1.0)

    return [
        Chart(
            f"{prefix}-conversations",
            "Conversations",
            labels,
            [series("Conversations", lambda b: float(b.conversations))],
            lambda v: f"{v:.0f}",
        ),
        rate("resolved", "Resolved without a person", lambda b: b.resolution_rate),
        rate("handoffs", "Handed to a person", lambda b: b.handoff_rate),
        rate("helpful", "Rated helpful", lambda b: b.helpful_rate),
        rate("flagged", "Answers flagged for review", lambda b: b.flagged_rate),
        rate("fallback", "Answered by a fallback model", lambda b: b.fallback_rate),
        Chart(
            f"{prefix}-cost",
            "Cost per conversation",
            labels,
            [series("Cost per conversation", lambda b: b.cost_per_conversation_usd)],
            dollars,
        ),
        Chart(
            f"{prefix}-latency",
            "Time to answer",
            labels,
            [
                series("median", lambda b: b.latency_p50_s, "bar light"),
                series("95th percentile", lambda b: b.latency_p95_s),
            ],
            seconds,
        ),
        Chart(
            f"{prefix}-approval",
            "Oldest open approval",
            labels,
            [series("Oldest open approval", lambda b: b.oldest_open_approval_s, "bar warn")],
            wait,
        ),
    ]


@router.get("/insights", response_class=HTMLResponse)
async def insights_page(request: Request, services: AppServices, session: Desk) -> HTMLResponse:
    """How the assistant is doing over the last 7 days and 24 hours."""
    figures = await insights.compute(services.database)
    context: dict[str, Any] = {
        "session": session,
        "figures": figures,
        "day_charts": charts("day", figures.days, day_label),
        "hour_charts": charts("hour", figures.hours, hour_label),
        "days": [(day_label(b.start), b) for b in reversed(figures.days)],
        "top_tools": [(tool_words(t.name), t.count) for t in figures.top_tools],
        "top_flags": [(flag_words(f.name), f.count) for f in figures.top_flags],
        "percent": lambda v: "–" if v is None else percent(v),
        "seconds": lambda v: "–" if v is None else seconds(v),
        "dollars": lambda v: "–" if v is None else dollars(v),
        "wait": lambda v: "none" if v is None else wait(v),
        "usd": usd,
        "day_count": len(figures.days),
        "hour_count": len(figures.hours),
    }
    return render(request, "insights.html", context)
