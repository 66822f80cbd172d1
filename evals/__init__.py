"""Evaluating the agent: the golden conversations' format, the checks made after each, and the reports.

    cases.py       the case format: a customer's turns (messages, confirmation answers, staff decisions) and
                   the expectations, as a pydantic-evals `Dataset` serialised in `fixtures/evals/*.yaml`
    datasets.py    reading those YAML files with this project's evaluators known to the loader
    transcript.py  what a played case leaves behind: replies, run statuses, tool calls, spans, held calls,
                   usage and the final store state
    evaluators.py  the checks a case names (tool calls, policy outcomes, store state, reply wording, status)
    report.py      the live evaluation's report: pass^k per task, cost, the HTML page

This package sits beside `api`, never importing it: playing a case against the real service (the harness, the
golden suite as CI runs it, live runs and `support eval`) is `cli.eval`'s, which imports both.
"""
