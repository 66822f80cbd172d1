"""The harness plays a case through the real HTTP app and reports what happened, from the database and the trace."""

from __future__ import annotations

import asyncio

from cli.eval.harness import StoreTemplate, Target, play
from evals.cases import Conversation, Turn
from testkit.eval_models import ci_target

CUSTOMER = "yusuf_rossi_9620"
ORDER = "#W6247578"  # pending, $53.27: under the auto tier, so a confirmed cancel runs at once
CANCEL = Conversation(
    customer=CUSTOMER, turns=[Turn(say=f"Please cancel order {ORDER}, I no longer need it."), Turn(confirm="confirm")]
)


async def test_a_confirmed_cancellation_is_recorded_from_steps_spans_held_calls_and_the_store(
    store: StoreTemplate,
) -> None:
    transcript = await play("cancel", CANCEL, target=Target(), store=store)

    assert transcript.error is None
    assert [t.run_status for t in transcript.turns] == ["awaiting_confirmation", "completed"]
    cancels = transcript.calls_of("cancel_pending_order")
    assert cancels and cancels[-1].decision == "allow" and cancels[-1].arguments["order_id"] == ORDER
    spans = [s for s in transcript.spans if s.name == "execute_tool cancel_pending_order"]
    assert any(s.attributes.get("policy.outcome") == "allow" for s in spans)
    assert [(h.kind, h.status) for h in transcript.held_calls] == [("confirmation", "executed")]
    assert transcript.initial_state["orders"][ORDER]["status"] == "pending"
    assert transcript.final_state["orders"][ORDER]["status"] == "cancelled"
    assert transcript.input_tokens > 0 and transcript.runs[0].model.startswith("offline:")
    assert len(transcript.replies) == 2


async def test_concurrent_cases_each_play_on_their_own_store(store: StoreTemplate) -> None:
    """The same order cancelled by three cases at once: each case's store still had it pending."""
    transcripts = await asyncio.gather(*(play(f"c{i}", CANCEL, target=Target(), store=store) for i in range(3)))
    assert [t.final_state["orders"][ORDER]["status"] for t in transcripts] == ["cancelled"] * 3
    assert len({t.conversation_id for t in transcripts}) == 3


async def test_a_staff_decision_with_nothing_pending_is_a_recorded_error_not_a_crash(store: StoreTemplate) -> None:
    case = Conversation(
        customer=CUSTOMER, turns=[Turn(say="hi"), Turn(staff="approve", note="ok"), Turn(confirm="confirm")]
    )
    transcript = await play("nothing", case, target=Target(), store=store)
    assert transcript.error is None
    assert [t.error.split(":")[0] if t.error else None for t in transcript.turns] == [
        None,
        "nothing_pending",
        "nothing_pending",
    ]


async def test_the_fake_messages_api_target_goes_through_the_sdk(store: StoreTemplate) -> None:
    with ci_target("offline-via-messages-api") as target:
        transcript = await play("cancel", CANCEL, target=target, store=store)
    assert {r.model for r in transcript.runs if r.model_calls} == {"anthropic:claude-sonnet-4-6"}
    assert transcript.final_state["orders"][ORDER]["status"] == "cancelled"
    assert any(s.name.startswith("chat claude-sonnet-4-6") for s in transcript.spans)
