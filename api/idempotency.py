"""`Idempotency-Key` for chat messages: a retried request gets the first response and never starts a run.

The key is claimed by inserting a row under a unique (customer, key) constraint before the run starts, and bound
to the run when it starts. A retry finds the row: with a stored response it is replayed; with a different body,
the key was reused by mistake (422). Without a stored response, the run bound to it tells: still running (409,
retry later); ended (its process died before it could store the response, and recovery finished the work): the
response is built from the run that finished it, stored, and replayed from then on. A claim whose request died
before its run started is released after a short while, so the retry is answered once.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from agent import (
    INTERRUPTED,
    ChatMessage,
    HeldRun,
    IdempotentRequest,
    Run,
    RunStatus,
    WorkerLease,
    held_call_of,
    message_view,
    run_view,
)
from api.errors import ApiError
from api.schemas import SendMessageOut
from basics.clock import utcnow
from basics.database import Database

MAX_KEY_LENGTH = 200
UNSTARTED_CLAIM_TIMEOUT = timedelta(seconds=30)
"""A claim with no run after this long belongs to a request that died before starting its run."""


def request_hash(conversation_id: str, content: str) -> str:
    return hashlib.sha256(f"{conversation_id}\n{content}".encode()).hexdigest()


class IdempotencyKeys:
    def __init__(self, database: Database, lease: WorkerLease | None = None) -> None:
        self.database = database
        self.lease = lease

    async def claim(self, customer_id: str, key: str, conversation_id: str, digest: str) -> dict[str, Any] | None:
        """Claim the key for a new request; or return the response to replay. Raises 409/422 as described."""
        if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
            raise ApiError(
                422, "invalid_idempotency_key", f"Idempotency-Key must be 1-{MAX_KEY_LENGTH} printable characters"
            )
        try:
            async with self.database.session() as session:
                session.add(
                    IdempotentRequest(
                        customer_id=customer_id,
                        key=key,
                        conversation_id=conversation_id,
                        request_hash=digest,
                        created_at=utcnow(),
                    )
                )
                await session.commit()
            return None
        except IntegrityError:
            pass
        async with self.database.session(readonly=True) as session:
            prior = (
                await session.exec(
                    select(IdempotentRequest).where(
                        IdempotentRequest.customer_id == customer_id, IdempotentRequest.key == key
                    )
                )
            ).one()
        if prior.request_hash != digest:
            raise ApiError(422, "idempotency_key_reused", "this Idempotency-Key was used for a different request")
        if prior.response is not None:
            return prior.response
        if prior.run_id is None:
            if await self._take_over_unstarted(prior):
                return None
            raise in_progress()
        response = await self._response_of(prior.run_id)
        if response is None:
            raise in_progress()
        await self.complete(customer_id, key, response)
        return response

    async def _take_over_unstarted(self, prior: IdempotentRequest) -> bool:
        async with self.database.session() as session:
            taken = await session.exec(
                update(IdempotentRequest)
                .where(
                    col(IdempotentRequest.id) == prior.id,
                    col(IdempotentRequest.run_id).is_(None),
                    col(IdempotentRequest.response).is_(None),
                    col(IdempotentRequest.created_at) < utcnow() - UNSTARTED_CLAIM_TIMEOUT,
                )
                .values(created_at=utcnow())
            )
            await session.commit()
        return bool(taken.rowcount == 1)

    async def _response_of(self, run_id: str) -> dict[str, Any] | None:
        """The response of the request whose run is `run_id`, once that run, or the run that finished its work
        after a crash, has ended; None while one is still running."""
        async with self.database.session(readonly=True) as session:
            run = await session.get(Run, run_id)
            if run is None:
                return None
            # Both reads name the run's conversation, so each reads one conversation's rows through its index
            # rather than the whole table: a client retrying while its turn runs asks again and again.
            in_conversation = run.conversation_id
            message = (
                await session.exec(
                    select(ChatMessage).where(
                        col(ChatMessage.conversation_id) == in_conversation,
                        col(ChatMessage.run_id) == run_id,
                        col(ChatMessage.role) == "customer",
                    )
                )
            ).first()
            while run is not None and run.status == RunStatus.FAILED and run.error == INTERRUPTED and run.reply is None:
                run = (
                    await session.exec(
                        select(Run).where(col(Run.conversation_id) == in_conversation, col(Run.resumed_from) == run.id)
                    )
                ).first()
            if run is None or run.status == RunStatus.RUNNING or message is None:
                return None
            answered = HeldRun(run, await held_call_of(session, run.id))
        return SendMessageOut(message=message_view(message), run=run_view(answered)).model_dump(mode="json")

    async def complete(self, customer_id: str, key: str, response: dict[str, Any]) -> None:
        async with self.database.session() as session:
            await session.exec(
                update(IdempotentRequest)
                .where(col(IdempotentRequest.customer_id) == customer_id, col(IdempotentRequest.key) == key)
                .values(response=response)
            )
            await session.commit()

    async def release(self, customer_id: str, key: str) -> None:
        """Forget a claim whose request was refused before it started, so a retry can use the key."""
        async with self.database.session() as session:
            await session.exec(
                delete(IdempotentRequest).where(
                    col(IdempotentRequest.customer_id) == customer_id, col(IdempotentRequest.key) == key
                )
            )
            await session.commit()


def in_progress() -> ApiError:
    return ApiError(
        409,
        "request_in_progress",
        "the first request with this key is still being answered",
        headers={"Retry-After": "2"},
    )
