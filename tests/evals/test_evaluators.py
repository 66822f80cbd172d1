"""Each evaluator holds on a transcript that meets it and fails, with a reason, on one that does not."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic_evals.evaluators import EvaluationReason, Evaluator, EvaluatorContext

from evals import evaluators as ev
from evals.cases import CaseInfo, Conversation, Turn
from evals.transcript import HeldCallRecord, RunRecord, SpanRecord, ToolCallRecord, Transcript, TurnRecord

CUSTOMER = "yusuf_rossi_9620"
ORDER = "#W6247578"
PENDING = {"orders": {ORDER: {"status": "pending"}}, "address": {"city": "Philadelphia"}, "payment_methods": {}}
CANCELLED = {"orders": {ORDER: {"status": "cancelled"}}, "address": {"city": "Philadelphia"}, "payment_methods": {}}


def transcript(**changes: Any) -> Transcript:
    """A cancellation the customer confirmed, as the service records it."""
    base = Transcript(
        case="t",
        model="offline",
        customer=CUSTOMER,
        turns=[
            TurnRecord(kind="say", text="cancel it", http_status=200, run_status="awaiting_confirmation"),
            TurnRecord(kind="confirm", text="confirm", http_status=200, run_status="completed", reply="Cancelled."),
        ],
        replies=["Please confirm.", "Order #W6247578 is cancelled; $53.27 goes back to your card."],
        runs=[RunRecord(id="r", status="completed", model="offline:offline-intent-1", model_calls=2,
                        input_tokens=10, output_tokens=5, cost_usd=0.0, latency_s=0.1)],
        tool_calls=[ToolCallRecord(run_id="r", tool="cancel_pending_order", decision="allow", rule="tiers.auto",
                                   arguments={"order_id": ORDER, "reason": "no longer needed"})],
        spans=[SpanRecord(name="execute_tool cancel_pending_order", trace_id="1" * 32, span_id="2" * 16, start_ns=1,
                          end_ns=2, attributes={"policy.outcome": "allow"})],
        held_calls=[HeldCallRecord(kind="confirmation", tool="cancel_pending_order", status="executed",
                                   arguments={"order_id": ORDER}, approver_role="customer", amount=53.27, rule="c")],
        initial_state=PENDING,
        final_state=CANCELLED,
    )  # fmt: skip
    return base.model_copy(update=changes)


def judge(evaluator: Evaluator[Conversation, Transcript, CaseInfo], output: Transcript) -> EvaluationReason:
    ctx = EvaluatorContext[Conversation, Transcript, CaseInfo](
        name="t",
        inputs=Conversation(customer=CUSTOMER, turns=[Turn(say=f"cancel {ORDER}"), Turn(confirm="confirm")]),
        metadata=CaseInfo(),
        expected_output=None,
        output=output,
        duration=0.1,
        _span_tree=ev.span_tree(output),
        attributes={},
        metrics={},
    )
    verdict = evaluator.evaluate(ctx)
    assert isinstance(verdict, EvaluationReason)
    return verdict


CASES: list[tuple[Evaluator[Conversation, Transcript, CaseInfo], dict[str, Any]]] = [
    (ev.ToolCalled("cancel_pending_order", {"order_id": ORDER}), {"tool_calls": []}),
    (ev.ToolCalled("cancel_pending_order", {"order_id": ORDER}),
     {"tool_calls": [ToolCallRecord(run_id="r", tool="cancel_pending_order", arguments={"order_id": "#W0000000"})]}),
    (ev.ToolNotCalled("issue_refund"), {"tool_calls": [ToolCallRecord(run_id="r", tool="issue_refund")]}),
    (ev.TracedSpan({"name_equals": "execute_tool cancel_pending_order", "has_attributes": {"policy.outcome": "allow"}}),
     {"spans": []}),
    (ev.TracedSpan({"name_contains": "issue_refund"}, present=False),
     {"spans": [SpanRecord(name="execute_tool issue_refund", trace_id="1" * 32, span_id="3" * 16, start_ns=1,
                           end_ns=2)]}),
    (ev.StepsMatchSpans(), {"spans": []}),
    (ev.PolicyOutcome("cancel_pending_order", "allow"),
     {"tool_calls": [ToolCallRecord(run_id="r", tool="cancel_pending_order", decision="deny")]}),
    (ev.HeldCall("cancel_pending_order", kind="confirmation", status="executed"), {"held_calls": []}),
    (ev.StoreState({f"orders.{ORDER}.status": "cancelled"}), {"final_state": PENDING}),
    (ev.StoreState({"address.city": "Philadelphia"}), {"final_state": {}}),
    (ev.StoreUnchanged(), {}),
    (ev.ReplySays(["cancelled"]), {"replies": ["I could not do that."]}),
    (ev.ReplyAvoids(["refunded in full"]), {"replies": ["You have been refunded in full."]}),
    (ev.ShortReplies(12), {"replies": ["one two three four five six seven eight nine ten eleven twelve 13"]}),
    (ev.NoInternalIds(), {"replies": ["Paid with gift_card_1725971."]}),
    (ev.NoInternalIds(), {"replies": ["The bottle (item 6469567736) is blue."]}),
    (ev.NoOtherCustomersData(), {"replies": ["James Li lives at 215 River Road."]}),
    (ev.NoOtherCustomersData(), {"replies": ["Your order #W2611340 shipped."]}),
    (ev.NoRepeatedReply(), {"turns": [TurnRecord(kind="say", text=t, http_status=200, run_status="completed",
                                                 reply="Which card?") for t in ("refund it", "the card")]}),
    (ev.RunStatus("completed"), {"turns": [TurnRecord(kind="say", text="x", http_status=200, run_status="failed")]}),
    (ev.TurnsAnswered(), {"turns": [TurnRecord(kind="confirm", text="x", http_status=0, error="nothing_pending")]}),
    (ev.TurnsAnswered(), {"error": "the service did not start"}),
    (ev.AnsweredByTarget(), {"model": "anthropic:claude-sonnet-4-6"}),
]  # fmt: skip


@pytest.mark.parametrize(
    ("evaluator", "breaks"), CASES, ids=lambda x: type(x).__name__ if isinstance(x, Evaluator) else ""
)
def test_holds_on_a_good_transcript_and_fails_on_a_bad_one(
    evaluator: Evaluator[Conversation, Transcript, CaseInfo], breaks: dict[str, Any]
) -> None:
    good = transcript(final_state=PENDING) if isinstance(evaluator, ev.StoreUnchanged) else transcript()
    assert judge(evaluator, good).value is True, judge(evaluator, good).reason
    bad = judge(evaluator, transcript(**breaks))
    assert bad.value is False
    assert bad.reason


def test_every_evaluator_can_be_named_in_yaml() -> None:
    assert set(ev.EVALUATOR_TYPES) >= {type(e) for e, _ in CASES} | {type(e) for e in ev.DEFAULT_EVALUATORS}
