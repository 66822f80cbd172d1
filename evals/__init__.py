"""Evaluating the agent: golden conversations played against the real service, and what must hold after each.

    cases.py       the case format: a customer's turns (messages, confirmation answers, staff decisions) and
                   the expectations, as a pydantic-evals `Dataset` serialised in `fixtures/evals/*.yaml`
    harness.py     plays one case against the real HTTP app on a fresh copy of the store; returns a `Transcript`
    transcript.py  what a played case leaves behind: replies, run statuses, tool calls, spans, held calls,
                   usage and the final store state
    evaluators.py  the checks a case names (tool calls, policy outcomes, store state, reply wording, status)
    golden.py      the golden suite as CI runs it: every case on one model, compared with a committed baseline

This package sits above the service: it drives `api` from the outside, as the customer's widget and the
support desk do, so it is the one part of `agent` that imports `api` (and only here, never the other way).
"""
