"""A small, hand-countable history of runs, flags, verdicts and approvals around a moment `now`, for the tests of
the store's figures (`agent.quality.insights`): the API, the desk's insights page and `support insights`.

    yesterday 10:00     E  e1 completed 3 s, $0.03, one tool call, flagged thumbs_down
    today 13:30         C  c1 failed 10 s
    today 14:05         A  a1 completed 2 s, $0.01, two tool calls, rated helpful
    today 14:10         A  a2 completed 4 s, $0.005, a fallback model answered, flagged (two rows), rated unhelpful
    today 14:20         B  b1 handed off 1 s, $0.02, one tool call, flagged
    today 14:25         D  d1 still running
    two days ago 23:59  F  f1 completed, before the two-day range

    approvals: Y opened yesterday 20:00, decided today 01:00; X opened today 12:00, still pending

`now` is today 14:30 UTC. The expected figures are counted by hand in the tests.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from agent.conversations.tables import Approval, Conversation, Feedback, Run, RunFlag, Step
from basics.database import Database

CUSTOMER = "james_li_5688"


def today_at(now: datetime, hour: int, minute: int = 0) -> datetime:
    return now.astimezone(UTC).replace(hour=hour, minute=minute, second=0, microsecond=0)


async def seed_history(database: Database, now: datetime, prefix: str = "fig", *, running: bool = True) -> None:
    """The history above, `now` being 14:30 of its day (ids start with `prefix`). `running=False` leaves out D,
    whose run a live service would take for one its process lost, and end (`agent.processes.recovery`)."""
    assert now.hour == 14 and now.minute == 30, "the history is laid out around 14:30"
    today = today_at(now, 0)
    yesterday = today - timedelta(days=1)

    def run(name: str, started: datetime, seconds: float | None, status: str, cost: int = 0, **more: object) -> Run:
        finished = None if seconds is None else started + timedelta(seconds=seconds)
        return Run(
            id=f"{prefix}_{name}",
            conversation_id=f"{prefix}_{name[0].upper()}",
            customer_id=CUSTOMER,
            status=status,
            started_at=started,
            finished_at=finished,
            cost_micro_usd=cost,
            **more,  # type: ignore[arg-type]
        )

    runs = [
        run("e1", yesterday + timedelta(hours=10), 3, "completed", 30_000),
        run("c1", today_at(now, 13, 30), 10, "failed"),
        run("a1", today_at(now, 14, 5), 2, "completed", 10_000),
        run("a2", today_at(now, 14, 10), 4, "completed", 5_000, fallback_reason="model_overloaded"),
        run("b1", today_at(now, 14, 20), 1, "handed_off", 20_000),
        *([run("d1", today_at(now, 14, 25), None, "running")] if running else []),
        run("f1", yesterday - timedelta(minutes=1), 5, "completed", 99_000, fallback_reason="model_overloaded"),
    ]
    conversations = sorted({r.conversation_id for r in runs})

    def tool(run_id: str, position: int, name: str | None, kind: str = "tool") -> Step:
        started = next(r.started_at for r in runs if r.id == f"{prefix}_{run_id}")
        return Step(run_id=f"{prefix}_{run_id}", position=position, kind=kind, tool=name, created_at=started)

    steps = [
        tool("e1", 0, None, "model"),
        tool("e1", 1, "get_order_details"),
        tool("a1", 0, None, "model"),
        tool("a1", 1, "get_order_details"),
        tool("a1", 2, "get_order_details"),
        tool("b1", 0, "transfer_to_human_agents"),
        tool("f1", 0, "cancel_pending_order"),
    ]

    def flag(run_id: str, kind: str, value: str = "") -> RunFlag:
        r = next(r for r in runs if r.id == f"{prefix}_{run_id}")
        return RunFlag(run_id=r.id, conversation_id=r.conversation_id, kind=kind, value=value, created_at=r.started_at)

    flags = [
        flag("e1", "thumbs_down"),
        flag("a2", "ungrounded_amount", "$412.00"),
        flag("a2", "ungrounded_amount", "$12.00"),
        flag("b1", "ungrounded_amount", "$9.00"),
        flag("f1", "fallback"),
    ]

    def verdict(run_id: str, helpful: bool) -> Feedback:
        r = next(r for r in runs if r.id == f"{prefix}_{run_id}")
        return Feedback(
            run_id=r.id, conversation_id=r.conversation_id, customer_id=CUSTOMER, helpful=helpful, created_at=now
        )

    def approval(name: str, opened: datetime, status: str, decided: datetime | None) -> Approval:
        return Approval(
            id=f"{prefix}_{name}",
            status=status,
            tool="issue_refund",
            tool_use_id=f"toolu_{name}",
            arguments={"order_id": "#W2611340", "amount": 150},
            arguments_hash="0" * 64,
            amount_cents=15_000,
            rule="refund_tiers",
            reason="a refund above the automatic limit",
            approver_role="agent",
            policy_version="test",
            conversation_id=f"{prefix}_A",
            customer_id=CUSTOMER,
            run_id=f"{prefix}_a1",
            created_at=opened,
            expires_at=opened + timedelta(days=2),
            decided_at=decided,
            resumed_run_id=None if decided is None else f"{prefix}_a2",  # settled: nothing for a service to resume
        )

    approvals = [
        approval("Y", yesterday + timedelta(hours=20), "executed", today + timedelta(hours=1)),
        approval("X", today_at(now, 12), "pending", None),
    ]
    async with database.session() as session:
        for conversation in conversations:
            session.add(Conversation(id=conversation, customer_id=CUSTOMER, created_at=yesterday - timedelta(days=1)))
        await session.flush()
        session.add_all(runs)
        await session.flush()
        session.add_all([*steps, *flags, verdict("a1", True), verdict("a2", False), *approvals])
        await session.commit()
