"""Running one tool call: reads straight through, writes in one transaction with a ledger entry.

A write's ledger entry carries its idempotency key under a unique constraint, and is committed together with
the write. So a key either has run (its entry exists and the stored result is replayed) or has not run at all;
a retry, a resumed run or a second process racing on the same key can never execute it twice. Any failure rolls
the whole transaction back: no half-written order survives.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlmodel import select

from tools.context import ToolContext
from tools.errors import ConcurrentUpdate, StoreUnavailable, ToolError
from tools.registry import Change, ToolSpec
from tools.store.money import format_usd
from tools.store.tables import LedgerEntry

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ToolResult:
    ok: bool
    content: dict[str, Any]
    error_code: str | None = None
    replayed: bool = False
    """True when the write had already run under this idempotency key and its stored result was returned."""

    @classmethod
    def failure(cls, error: ToolError) -> ToolResult:
        return cls(ok=False, content=error.as_result(), error_code=error.code)


async def recorded_result(ctx: ToolContext, key: str) -> dict[str, Any] | None:
    """The stored result of the write that ran under `key`, if one did; ends the read transaction."""
    found = (await ctx.session.exec(select(LedgerEntry.result).where(LedgerEntry.idempotency_key == key))).first()
    await ctx.session.rollback()
    return None if found is None else dict(found)


async def execute(
    spec: ToolSpec, ctx: ToolContext, args: BaseModel, *, checked_amount_cents: int | None = None
) -> ToolResult:
    """Run the call. `checked_amount_cents` is the amount the policy saw: if the write, planned again inside its
    transaction, would now move a different amount, the record changed in between and nothing is written."""
    if not spec.writes:
        return await _execute_read(spec, ctx, args)
    return await _execute_write(spec, ctx, args, checked_amount_cents)


async def _execute_read(spec: ToolSpec, ctx: ToolContext, args: BaseModel) -> ToolResult:
    """A read writes nothing and commits nothing: the caller's session ends its transaction (and the policy
    decision that allowed it is stored with the run, see `agent.turn.tool_gate`)."""
    try:
        content = await spec.func(ctx, args)
    except ToolError as error:
        return ToolResult.failure(error)
    except SQLAlchemyError:
        log.exception("store error while running %s", spec.name)
        await ctx.session.rollback()
        return ToolResult.failure(StoreUnavailable("the store could not answer right now"))
    except BaseException:
        await ctx.session.rollback()
        raise
    return ToolResult(ok=True, content=content)


async def _execute_write(
    spec: ToolSpec, ctx: ToolContext, args: BaseModel, checked_amount_cents: int | None
) -> ToolResult:
    key = ctx.idempotency_key or f"adhoc:{uuid.uuid4()}"
    prior = await recorded_result(ctx, key)
    if prior is not None:
        return ToolResult(ok=True, content=prior, replayed=True)
    return await execute_in_transaction(spec, ctx, args, checked_amount_cents=checked_amount_cents)


async def execute_in_transaction(
    spec: ToolSpec, ctx: ToolContext, args: BaseModel, *, checked_amount_cents: int | None
) -> ToolResult:
    """Plan, apply and record a write in the session's open transaction (which may already hold the policy
    decision and the limits' locks), then commit it all together."""
    key = ctx.idempotency_key or f"adhoc:{uuid.uuid4()}"
    session = ctx.session
    try:
        change: Change = await spec.func(ctx, args)
        if checked_amount_cents is not None and change.amount_cents != checked_amount_cents:
            raise ConcurrentUpdate(
                f"the amount changed from {format_usd(checked_amount_cents)} to {format_usd(change.amount_cents)} "
                "since the action was checked; nothing was written"
            )
        content = await change.apply()
        session.add(
            LedgerEntry(
                idempotency_key=key,
                tool=spec.name,
                customer_id=ctx.customer_id,
                order_id=change.order_id,
                arguments=args.model_dump(mode="json"),
                amount_cents=change.amount_cents,
                refund_cents=change.refund_cents,
                result=content,
                created_at=ctx.now,
            )
        )
        await session.commit()
    except (ToolError, IntegrityError) as error:
        await session.rollback()
        # A racer that committed the same key first wins; we hand back its result rather than an error.
        prior = await recorded_result(ctx, key)
        if prior is not None:
            return ToolResult(ok=True, content=prior, replayed=True)
        if isinstance(error, ToolError):
            return ToolResult.failure(error)
        return ToolResult.failure(ConcurrentUpdate("the action collided with another write; nothing was written"))
    except SQLAlchemyError:
        # The store itself failed (unreachable, or refused a value). The call has no effect; the run goes on.
        log.exception("store error while running %s", spec.name)
        await session.rollback()
        return ToolResult.failure(StoreUnavailable("the store could not complete this action; nothing was written"))
    except BaseException:
        await session.rollback()
        raise
    return ToolResult(ok=True, content=content)
