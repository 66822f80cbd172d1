"""The customer's own confirmation of a write, before it runs: the other kind of held call.

The model proposes; for a write the policy file marks (all store writes by default), the gate decides but does
not run it, and the loop ends the turn `awaiting_confirmation` with a summary the tool built from the store
data. Only the conversation's customer, through the API, can answer. A confirmation is an `Approval` row of
kind `confirmation` and moves through the same conditional transitions, so it has the same guarantees:

    pending ──confirm──▶ approved ──policy again, runs once──▶ executed | failed ──▶ resumed run reports it
       │                          └──policy now needs a human──▶ escalated ──▶ resumed run opens the approval
       │    ──decline──▶ rejected ───────────────────────────────────────────▶ resumed run says nothing changed
       │    ──new message──▶ withdrawn (that message's run answers instead)
       └─── (15 min) ─▶ expired ─────────────────────────────────────────────▶ fixed reply, nothing changed

Nothing the model writes, and nothing a tool result or a message carries, can move a confirmation: the only
way out of `pending` other than expiry and a new message is `answer` below.
"""

from __future__ import annotations

from agent.errors import ConfirmationNotPending
from agent.held.decisions import ApprovalDecisions, Settled
from agent.held.status import Answer, ApprovalStatus, HeldKind, spoken_answer, stored_answer
from basics.clock import utcnow
from basics.principal import Principal
from tools.errors import NotFound

CONFIRMED_NOTE = "confirmed by the customer"
DECLINED_NOTE = "declined by the customer"


class ConfirmationAnswers:
    def __init__(self, desk: ApprovalDecisions) -> None:
        self.desk = desk
        self.approvals = desk.approvals

    async def answer(self, conversation_id: str, customer: Principal, confirmation_id: str, answer: Answer) -> Settled:
        """The customer's answer. Another customer's confirmation, or one of another conversation, is not found
        (404, as if it did not exist); one already answered or expired is a conflict (409)."""
        held = await self.approvals.get(confirmation_id, kind=HeldKind.CONFIRMATION)
        if held.conversation_id != conversation_id or held.customer_id != customer.id or not customer.is_customer:
            raise NotFound("confirmation not found")
        if held.status == ApprovalStatus.PENDING and held.expires_at <= utcnow():
            await self.desk.expire_due()
            held = await self.approvals.get(held.id)
        if held.status != ApprovalStatus.PENDING:
            raise ConfirmationNotPending(answered(held.id, held.status))
        if stored_answer(answer) == ApprovalStatus.APPROVED:
            won = await self.approvals.approve(held.id, customer, CONFIRMED_NOTE, held.arguments, held.amount_cents)
        else:
            won = await self.approvals.reject(held.id, customer, DECLINED_NOTE)
        if not won:
            latest = await self.approvals.get(held.id)
            raise ConfirmationNotPending(answered(held.id, latest.status))
        self.desk.telemetry.confirmation_decided(held, spoken_answer(answer), customer.id, customer.role)
        return await self.desk.settle(held.id)

    async def withdraw_open(self, conversation_id: str, customer: Principal) -> list[str]:
        """A new message while a confirmation is open declines it: the customer moved on."""
        withdrawn = await self.approvals.withdraw_open(conversation_id, customer.id)
        for held_id in withdrawn:
            held = await self.approvals.get(held_id)
            self.desk.telemetry.confirmation_decided(held, ApprovalStatus.WITHDRAWN, customer.id, customer.role)
        return withdrawn


def answered(confirmation_id: str, status: str) -> str:
    return f"confirmation {confirmation_id} is already {status}; it can no longer be answered"
