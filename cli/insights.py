"""`support insights`: the store's figures in the terminal, from `GET /v1/insights` of a running service with a
staff token, as the desk's insights page shows them (its wording and formats), or the API's JSON with `--json`."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from agent import insights
from api.desk.insights import dollars, percent, seconds, tool_words, wait
from api.desk.wording import flag_words
from cli.staff import _staff_options, call

COLUMNS: list[tuple[str, str, Callable[[Any], str]]] = [
    ("Conv.", "conversations", str),
    ("Resolved", "resolution_rate", percent),
    ("Handed off", "handoff_rate", percent),
    ("Helpful", "helpful_rate", percent),
    ("Flagged", "flagged_rate", percent),
    ("Fallback", "fallback_rate", percent),
    ("Cost/conv.", "cost_per_conversation_usd", dollars),
    ("p50 time", "latency_p50_s", seconds),
    ("p95 time", "latency_p95_s", seconds),
    ("Oldest approval", "oldest_open_approval_s", wait),
]


def table(title: str, buckets: list[dict[str, Any]], label: Callable[[datetime], str]) -> list[str]:
    """One line per bucket, newest first; "-" where there was nothing to measure."""
    header = [title, *(name for name, _, _ in COLUMNS)]
    rows = [header]
    for bucket in reversed(buckets):
        cells = [label(datetime.fromisoformat(bucket["start"]))]
        for _, key, shown in COLUMNS:
            value = bucket[key]
            cells.append("-" if value is None else shown(value))
        rows.append(cells)
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return [
        "  ".join(cell.ljust(widths[0]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(row))
        for row in rows
    ]


def ranked(title: str, entries: list[dict[str, Any]], words: Callable[[str], str]) -> list[str]:
    if not entries:
        return [f"{title}: none"]
    width = max(len(words(e["name"])) for e in entries)
    return [f"{title}:", *(f"  {words(e['name']).ljust(width)}  {e['count']:>6}" for e in entries)]


def show_insights(args: argparse.Namespace) -> None:
    body = call(args, "GET", f"/v1/insights?days={args.days}&hours={args.hours}")
    if args.json:
        print(json.dumps(body, indent=2))
        return
    generated = datetime.fromisoformat(body["generated_at"])
    oldest = body["oldest_open_approval_s"]
    lines = [
        f"Insights at {generated:%Y-%m-%d %H:%M} UTC (runs count in the day or hour they started)",
        f"Oldest approval waiting for a decision: {'none' if oldest is None else wait(oldest)}",
        "",
        *table(f"Day (last {len(body['days'])})", body["days"], lambda d: f"{d:%a %d %b}"),
        "",
        *table(f"Hour (last {len(body['hours'])})", body["hours"], lambda d: f"{d:%d %b %H:00}"),
        "",
        *ranked(f"Most used tools, last {len(body['days'])} days", body["top_tools"], tool_words),
        *ranked(f"Most frequent flags, last {len(body['days'])} days", body["top_flags"], flag_words),
    ]
    print("\n".join(lines))


def within(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = int(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be {low} to {high}, not {value}")
        return value

    return parse


def register(commands: Any) -> None:
    p = commands.add_parser(
        "insights",
        help="the store's figures per day and per hour (conversations, resolution, hand-offs, helpful, flagged, "
        "fallback, cost, answer time, oldest approval) from a running service",
    )
    p.add_argument(
        "--days",
        type=within(1, insights.MAX_DAYS),
        default=insights.DEFAULT_DAYS,
        help=f"UTC days, today included (default {insights.DEFAULT_DAYS}, at most {insights.MAX_DAYS})",
    )
    p.add_argument(
        "--hours",
        type=within(1, insights.MAX_HOURS),
        default=insights.DEFAULT_HOURS,
        help=f"hours, the current one included (default {insights.DEFAULT_HOURS}, at most {insights.MAX_HOURS})",
    )
    p.add_argument("--json", action="store_true", help="print the API's answer as JSON")
    _staff_options(p)
    p.set_defaults(func=show_insights)
