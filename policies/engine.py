"""The policy engine: decides `allow | deny | needs_approval` for a tool call before anything runs.

It assumes nothing about the caller. The model may be confused or fully hostile, so every call is taken as it
arrives: an unknown tool, arguments of the wrong shape, negative or absurd amounts, someone else's order ids.
Anything the engine cannot positively allow is denied (it fails closed), and every decision is stored.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from basics.clock import utcnow
from basics.principal import Principal
from policies.audit import record_decision
from policies.config import PolicyConfig
from policies.decision import Decision, Outcome, Verdict
from policies.rules import WriteFacts, customer_refund_rule, money_tier_rule, rate_rule, store_budget_rule
from tools.call import ToolCall
from tools.context import ToolContext
from tools.errors import InvalidArguments, NotFound, PreconditionFailed, ToolError, UnknownTool
from tools.registry import Change, ToolRegistry
from tools.store.locks import STORE_SCOPE, customer_scope, hold

log = logging.getLogger(__name__)

READ_ALLOWED = "read.allowed"
NOT_FOUND_MESSAGE = "I couldn't find that on your account. Could you check the order or payment method id?"


class PolicyEngine:
    def __init__(self, config: PolicyConfig, registry: ToolRegistry, clock: Callable[[], datetime] = utcnow) -> None:
        self.config = config
        self.registry = registry
        self.clock = clock

    @property
    def version(self) -> str:
        return self.config.version

    async def evaluate(
        self,
        call: ToolCall,
        principal: Principal,
        session: AsyncSession,
        *,
        run_id: str | None = None,
        hold_limits: bool = False,
        record: bool = True,
    ) -> Decision:
        """Decide on `call` for `principal` and record the decision in `session`'s transaction (the caller
        commits it). Never raises for bad input.

        With `hold_limits`, the lock rows of the limits a write counts against are taken before they are
        counted and stay held until the caller's transaction ends: the caller executes the write in that same
        transaction, so no other write can slip in between the count and this one. With `record=False` the
        caller stores the decision itself (`policies.audit.decision_row`)."""
        now = self.clock()
        try:
            decision = await self._decide(call, principal, session, now, hold_limits=hold_limits)
        except Exception:  # fail closed: a rule that breaks must not let a call through
            log.exception("policy evaluation failed for tool %r", call.name)
            await session.rollback()  # the transaction may be unusable now (PostgreSQL aborts it on error)
            decision = self._stamp(
                Verdict(
                    Outcome.DENY,
                    "engine.error",
                    "the policy engine could not evaluate this call",
                    "I can't do that right now. I can hand you to a team member.",
                ),
            )
        if record:
            await record_decision(session, call, principal, decision, now=now, run_id=run_id)
        return decision

    def _stamp(self, verdict: Verdict, change: Change | None = None, tier_sum_cents: int | None = None) -> Decision:
        return Decision(
            outcome=verdict.outcome,
            rule=verdict.rule,
            reason=verdict.reason,
            customer_message=verdict.customer_message,
            approver_role=verdict.approver_role,
            policy_version=self.config.version,
            amount_cents=change.amount_cents if change else 0,
            refund_cents=change.refund_cents if change else 0,
            summary=change.summary if change else "",
            tier_sum_cents=tier_sum_cents if tier_sum_cents is not None else verdict.tier_sum_cents,
        )

    async def _decide(
        self, call: ToolCall, principal: Principal, session: AsyncSession, now: datetime, *, hold_limits: bool
    ) -> Decision:
        if not principal.is_customer:
            return self._stamp(
                Verdict(Outcome.DENY, "principal.not_customer", "store tools act for a signed-in customer only")
            )
        try:
            spec = self.registry.get(call.name)
            args = spec.parse(call.arguments)
        except UnknownTool as error:
            return self._stamp(Verdict(Outcome.DENY, "tool.unknown", error.message))
        except InvalidArguments as error:
            return self._stamp(Verdict(Outcome.DENY, "arguments.invalid", error.message))
        if not spec.writes:
            return self._stamp(Verdict(Outcome.ALLOW, READ_ALLOWED, "reads are scoped to the customer"))

        ctx = ToolContext(principal=principal, session=session, now=now)
        try:
            change: Change = await spec.func(ctx, args)
        except NotFound as error:
            return self._stamp(Verdict(Outcome.DENY, "ownership.not_found", error.message, NOT_FOUND_MESSAGE))
        except PreconditionFailed as error:
            return self._stamp(Verdict(Outcome.DENY, f"precondition.{error.code}", error.message, error.message))
        except ToolError as error:
            return self._stamp(Verdict(Outcome.DENY, f"tool.{error.code}", error.message, error.message))

        if hold_limits:
            await hold(session, customer_scope(principal.id), *([STORE_SCOPE] if change.refund_cents > 0 else []))
        facts = WriteFacts(spec=spec, customer_id=principal.id, change=change, now=now, session=session)
        verdict = Verdict(Outcome.ALLOW, "write.auto", "within every limit")
        if found := await rate_rule(facts, self.config):
            return self._stamp(found, change)
        money = await money_tier_rule(facts, self.config)
        for rule in (
            money,
            await customer_refund_rule(facts, self.config),
            await store_budget_rule(facts, self.config),
        ):
            if rule is not None and rule.outranks(verdict):
                verdict = rule
        return self._stamp(verdict, change, money.tier_sum_cents if money is not None else None)
