"""`Idempotency-Key` for chat messages: a retried request gets the first response and never starts a run.

The key is claimed by inserting a row under a unique (customer, key) constraint before the run starts. A retry
finds the row: with a stored response it is replayed; without one, the first request is still running (409);
with a different body, the key was reused by mistake (422).
"""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from agent.tables import IdempotentRequest
from api.errors import ApiError
from tools.context import utcnow
from tools.store.database import Database

MAX_KEY_LENGTH = 200


def request_hash(conversation_id: str, content: str) -> str:
    return hashlib.sha256(f"{conversation_id}\n{content}".encode()).hexdigest()


class IdempotencyKeys:
    def __init__(self, database: Database) -> None:
        self.database = database

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
        if prior.response is None:
            raise ApiError(
                409,
                "request_in_progress",
                "the first request with this key is still being answered",
                headers={"Retry-After": "2"},
            )
        return prior.response

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
