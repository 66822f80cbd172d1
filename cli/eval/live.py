"""`support eval`: play tau2 tasks against the service with a real model and a simulated customer, in parallel,
within a cost cap, and judge each on the store it leaves.

One trial is one conversation: a fresh copy of the store, the service in-process with the model under test (the
eval harness, `cli.eval.harness`), and a `SimulatedCustomer` playing the task's instructions. The customer's
messages go through the HTTP API; when the service asks the customer to confirm a write, the simulated customer
decides from its instructions and its answer goes to the confirmation endpoint. When the service holds an action
for a person, the evaluation's automatic approver decides (see `approve_within_policy`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agent import HeldKind, Model, PriceTable, RunStatus, micro_to_usd
from cli.eval.harness import CaseSession, HarnessError, StoreTemplate, Target, open_session
from evals.cost_cap import CostCap, CostCapReached
from evals.report import TrialResult
from evals.simulated_customer import OPENING, CustomerLine, SimulatedCustomer
from evals.tau2 import Tau2Task, differences, seed_store
from evals.transcript import Transcript, TurnRecord

MAX_CUSTOMER_MESSAGES = 20
"""tau2 bounds a conversation too; a customer still talking after this many messages has not been helped."""
MAX_HELD_IN_A_ROW = 5
"""Confirmations and approvals answered for one message before the trial gives up (a service that keeps asking)."""
APPROVER_NOTE = "Approved by the evaluation's automatic approver: within policy."

Progress = Callable[[TrialResult], None]


@dataclass(slots=True)
class LiveRun:
    """Everything the trials of one evaluation share."""

    new_target: Callable[[], Target]
    """The service under test, made afresh for each trial: the service closes its model when it stops."""
    customer_model: Model
    prices: PriceTable
    store: StoreTemplate
    cap: CostCap
    concurrency: int = 4
    max_customer_messages: int = MAX_CUSTOMER_MESSAGES

    async def play_all(self, tasks: list[Tau2Task], trials: int, progress: Progress | None = None) -> list[TrialResult]:
        """Every task `trials` times, at most `concurrency` at once. Once the cap is reached no trial starts;
        those not started are reported `cut_short` too, so the report shows what was not measured."""
        limit = asyncio.Semaphore(self.concurrency)

        async def one(task: Tau2Task, trial: int) -> TrialResult:
            async with limit:
                if self.cap.reached:
                    result = TrialResult(task.id, trial, status="cut_short", error="not started: cost cap reached")
                else:
                    result = await self.play(task, trial)
            if progress is not None:
                progress(result)
            return result

        jobs = [one(task, trial) for trial in range(1, trials + 1) for task in tasks]
        return list(await asyncio.gather(*jobs))

    async def play(self, task: Tau2Task, trial: int) -> TrialResult:
        result = TrialResult(task.id, trial)
        customer = SimulatedCustomer(self.customer_model, task.instructions)
        try:
            async with open_session(
                f"tau2-{task.id}#{trial}", task.customer_id, target=self.new_target(), store=self.store
            ) as session:
                try:
                    await self._converse(session, customer, result)
                except CostCapReached as stop:
                    result.status, result.error = "cut_short", str(stop)
                transcript = await session.transcript()
        except Exception as error:  # the service refused a turn, the simulated customer's model failed, ...
            # One broken trial must not stop the others; it is reported, with what it had cost so far.
            result.status, result.error = "error", f"{type(error).__name__}: {error}"
            return result
        result.conversation = conversation_of(transcript)
        result.count_routes(transcript.runs)
        result.denied_calls = sum(call.decision == "deny" for call in transcript.tool_calls)
        result.approvals = sum(held.kind == HeldKind.APPROVAL for held in transcript.held_calls)
        result.confirmations = sum(held.kind == HeldKind.CONFIRMATION for held in transcript.held_calls)
        result.tokens += transcript.input_tokens + transcript.output_tokens
        if result.status == "finished":
            result.mismatch = differences(task.expected_account(seed_store()), transcript.final_state)
            result.state_match = not result.mismatch
            result.passed = result.state_match
        return result

    async def _converse(self, session: CaseSession, customer: SimulatedCustomer, result: TrialResult) -> None:
        self.cap.check()
        line = self._charged(await customer.reply_to(OPENING), result)
        for _ in range(self.max_customer_messages):
            if line.ended or not line.spoken:  # as in tau2, the goodbye with the stop token is not sent
                return
            self.cap.check()
            started = time.monotonic()
            self._answered(session, await session.say(line.spoken), result)
            result.latencies_s.append(round(time.monotonic() - started, 3))
            result.agent_turns += 1
            await self._settle_held_calls(session, customer, result)
            run = session.last_run or {}
            if run.get("status") == RunStatus.HANDED_OFF:
                return
            self.cap.check()
            line = self._charged(await customer.reply_to(run.get("reply") or ""), result)
        result.error = f"the customer was still talking after {self.max_customer_messages} messages"

    async def _settle_held_calls(self, session: CaseSession, customer: SimulatedCustomer, result: TrialResult) -> None:
        """Answer what the last run waits for, until it waits for nothing: the customer's confirmations (the
        simulated customer decides) and staff approvals (`approve_within_policy`)."""
        for _ in range(MAX_HELD_IN_A_ROW):
            run = session.last_run or {}
            if run.get("status") == RunStatus.AWAITING_CONFIRMATION and run.get("pending_confirmation"):
                self.cap.check()
                wanted, line = await customer.decide(str(run["pending_confirmation"].get("summary", "")))
                self._charged(line, result)
                result.confirmations_accepted += wanted
                self._answered(session, await session.answer_confirmation("confirm" if wanted else "decline"), result)
            elif run.get("status") == RunStatus.AWAITING_APPROVAL and run.get("pending_action"):
                self.cap.check()
                role = approve_within_policy(run["pending_action"])
                self._answered(session, await session.decide_approval("approve", APPROVER_NOTE, role=role), result)
                result.approvals_granted += 1
            else:
                return

    def _charged(self, line: CustomerLine, result: TrialResult) -> CustomerLine:
        usd = micro_to_usd(self.prices.cost_micro_usd(line.model, line.usage))
        result.customer_cost_usd += usd
        result.tokens += line.usage.total_tokens
        self.cap.charge(usd)
        return line

    def _answered(self, session: CaseSession, turn: TurnRecord, result: TrialResult) -> None:
        """Charge what the service's run cost (as the service priced it); a refused turn ends the trial."""
        if turn.error:
            raise HarnessError(f"the service refused a {turn.kind} turn: {turn.error}")
        usd = float(((session.last_run or {}).get("usage") or {}).get("cost_usd") or 0.0)
        result.agent_cost_usd += usd
        self.cap.charge(usd)


def approve_within_policy(pending_action: dict[str, Any]) -> str:
    """The evaluation's stand-in for the support team: it approves every action the policy held for a person,
    as the role the policy asked for (`agent` or `supervisor`). The policy has already denied whatever is over
    its hard caps, so what reaches a person is within policy by construction; the report counts these approvals
    so a reader can see how much of a pass relied on them."""
    return "supervisor" if pending_action.get("approver_role") == "supervisor" else "agent"


def conversation_of(transcript: Transcript) -> list[dict[str, Any]]:
    return [turn.model_dump(include={"kind", "text", "reply", "run_status", "error"}) for turn in transcript.turns]
