"""The same use with one field misspelled (`sumary`): mypy --strict must refuse it."""

from generated.api.confirmations import answer_confirmation
from generated.api.conversations import create_conversation, send_message
from generated.client import AuthenticatedClient
from generated.models import (
    ConfirmationAnswerOut,
    ConfirmationIn,
    ConfirmationInDecision,
    ConversationOut,
    ErrorOut,
    MessageIn,
    SendMessageOut,
)


async def cancel_with_confirmation(api: AuthenticatedClient, text: str) -> tuple[str, str, str, str]:
    """Ask for a cancellation, read the confirmation card, confirm it; the statuses and the summary seen."""
    conversation = await create_conversation.asyncio(client=api)
    assert isinstance(conversation, ConversationOut), conversation
    sent = await send_message.asyncio(conversation.id, client=api, body=MessageIn(content=text))
    if isinstance(sent, ErrorOut):
        raise AssertionError(f"{sent.error.code}: {sent.error.message}")
    assert isinstance(sent, SendMessageOut) and sent.run is not None
    asked: str = sent.run.status
    pending = sent.run.pending_confirmation
    assert pending is not None
    summary: str = pending.sumary
    answered = await answer_confirmation.asyncio(
        conversation.id, pending.id, client=api, body=ConfirmationIn(decision=ConfirmationInDecision.CONFIRM)
    )
    assert isinstance(answered, ConfirmationAnswerOut) and answered.run is not None
    return asked, summary, answered.confirmation.status, answered.run.status
