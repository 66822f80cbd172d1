"""What the service writes into the model's history, on the customer's side, when the provider stopped in a way
that needs a word before the conversation can go on. The model reads these; the customer never sees them."""

from __future__ import annotations

from collections.abc import Sequence

from agent.turn.replies import NOTICE_PREFIX

GO_ON_AFTER_PAUSE = f"{NOTICE_PREFIX} Your answer was paused before it was finished. Please go on with it."
"""A paused turn the model cannot continue from its own words sent back last (a model without prefill)."""

ANSWER_THE_RESULTS = f"{NOTICE_PREFIX} You have the tool results above; please answer the customer now."
"""After tool results the model answered with nothing (handling-stop-reasons: an empty `end_turn`; the fix it
gives is a new user message asking the model to continue)."""


def withheld_after_refusal(tools_run: Sequence[str]) -> str:
    """Stands in for a turn the model refused. handle-streaming-refusals: "When you receive stop_reason: refusal,
    you must reset the conversation context before continuing ... remove or rephrase the turn that triggered the
    refusal". What the turn already did stays known, so the model does not offer it again."""
    done = f" Before that, these tools had run: {', '.join(dict.fromkeys(tools_run))}." if tools_run else ""
    return (
        f"{NOTICE_PREFIX} The customer's previous message was declined by the model's safety checks and is not "
        f"shown; the customer was told a member of the support team can help.{done}"
    )
