"""`support eval --tasks golden`: the golden cases as trials of a live evaluation, under its cost cap.

The golden suite's own runner (`cli.eval.golden.run_golden`) plays and judges the cases; here each case is
handed to it alone, so the cap can be checked before every case and the verdicts land in the same report as the
tau2 tasks (a case passes when every check on it holds; its "final state" holds when no store check failed).
The customer's turns are scripted in the case, so no simulated customer (and no key) is needed for them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from agent import ApprovalStatus, HeldKind
from cli.eval.golden import CaseResult, golden_dataset, run_golden
from cli.eval.harness import StoreTemplate, Target
from cli.eval.live import conversation_of
from evals.cases import GoldenCase, GoldenDataset
from evals.cost_cap import CostCap
from evals.report import TrialResult

Progress = Callable[[TrialResult], None]
GRANTED = {ApprovalStatus.APPROVED, ApprovalStatus.EXECUTED, ApprovalStatus.FAILED}
"""Held-call statuses after a yes (a confirmed or approved call that then ran, or ran and failed)."""


def trial_of(result: CaseResult, trial: int) -> TrialResult:
    transcript = result.transcript
    outcome = TrialResult(
        task_id=result.name,
        trial=trial,
        passed=result.passed,
        state_match=not any(check.startswith("Store") for check in result.failures),
        mismatch=[f"{check}: {why}" for check, why in result.failures.items()],
        agent_cost_usd=result.cost_usd,
        tokens=result.input_tokens + result.output_tokens,
    )
    if transcript is None:
        outcome.status, outcome.error = "error", "; ".join(result.failures.values()) or "the case was not played"
        return outcome
    outcome.denied_calls = sum(call.decision == "deny" for call in transcript.tool_calls)
    outcome.approvals = sum(held.kind == HeldKind.APPROVAL for held in transcript.held_calls)
    outcome.approvals_granted = sum(
        held.kind == HeldKind.APPROVAL and held.status in GRANTED for held in transcript.held_calls
    )
    outcome.confirmations = sum(held.kind == HeldKind.CONFIRMATION for held in transcript.held_calls)
    outcome.confirmations_accepted = sum(
        held.kind == HeldKind.CONFIRMATION and held.status in GRANTED for held in transcript.held_calls
    )
    outcome.agent_turns = len(transcript.turns)
    outcome.conversation = conversation_of(transcript)
    outcome.latencies_s = [run.latency_s for run in transcript.runs if run.latency_s is not None]
    outcome.count_routes(transcript.runs)
    return outcome


async def play_golden(
    new_target: Callable[[], Target],
    store: StoreTemplate,
    cap: CostCap,
    *,
    trials: int,
    concurrency: int,
    progress: Progress | None = None,
    dataset: GoldenDataset | None = None,
) -> list[TrialResult]:
    suite = dataset or golden_dataset()
    limit = asyncio.Semaphore(concurrency)

    async def one(case: GoldenCase, trial: int) -> TrialResult:
        async with limit:
            if cap.reached:
                outcome = TrialResult(case.name or "", trial, status="cut_short", error="not started: cost cap reached")
            else:
                alone = GoldenDataset(name=suite.name, cases=[case], evaluators=suite.evaluators)
                report = await run_golden(new_target(), store=store, dataset=alone, concurrency=1)
                outcome = trial_of(report.results[case.name or ""], trial)
                cap.charge(outcome.cost_usd)
        if progress is not None:
            progress(outcome)
        return outcome

    return list(await asyncio.gather(*(one(case, trial) for trial in range(1, trials + 1) for case in suite.cases)))
