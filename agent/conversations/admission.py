"""Admitting a customer message: the chat rate limit and the daily spend reservation, atomically.

Both are taken inside the transaction that stores the message and its run, each with one conditional upsert of
one indexed row, so neither reads more as the day's traffic grows, and two requests (on one process or many)
cannot both pass a limit that has room for one: the database applies the upserts on the row one after the other.

The rate limit is a token bucket per customer (`chat_allowances`): it holds up to `per_minute` messages and
refills at `per_minute` a minute. A message over the limit is refused before anything is stored; a message past
a daily budget is stored and answered politely without a model call. New conversations have a bucket of their own
(`conversations_per_hour`), taken by the statement that stores the conversation (`RunStore.create_conversation`).
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import CTE, Row, Select, Update, bindparam, column, func, text
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from agent.errors import RateLimited
from agent.limits.spend import DailySpend
from basics.batched import built_once
from basics.dialects import dialect_of
from tools.store.locks import customer_scope
from tools.store.tables import UTCDateTime

_REFILLED = (
    "(chat_allowances.tokens + CASE WHEN :now > chat_allowances.refilled_at"
    " THEN (:now - chat_allowances.refilled_at) * :per_second ELSE 0 END)"
)
"""The bucket's tokens now. A request whose clock reads earlier than the last refill (it waited for the row
behind a later one, or another process's clock is ahead) adds nothing rather than taking tokens away."""

_TAKE = """
    INSERT INTO chat_allowances (scope, tokens, refilled_at) SELECT :scope, :capacity - 1, :now WHERE GATE
    ON CONFLICT (scope) DO UPDATE SET
        tokens = LEAST_OF(REFILLED, :capacity) - 1,
        refilled_at = CASE WHEN :now > chat_allowances.refilled_at THEN :now ELSE chat_allowances.refilled_at END
    WHERE REFILLED >= 1
    RETURNING tokens
    """.replace(
    "LEAST_OF(REFILLED, :capacity)", "CASE WHEN REFILLED > :capacity THEN :capacity ELSE REFILLED END"
).replace("REFILLED", _REFILLED)
"""Take one token if there is one, in one round trip; no row back means the customer is over the limit. (The
SQL is assembled from constant fragments; every value is a bound parameter. GATE as in `agent.limits.spend`.)"""

_AFTER_CLAIM = "EXISTS (SELECT 1 FROM claim)"
"""Writes that ride on the claim's statement wait for it (and do nothing when it claimed nothing): the
conversation's row is always locked first, so a turn that starts never holds the counters while it waits for a
turn of the same conversation that is closing (that would be a lock cycle)."""

_AFTER_TAKEN = "EXISTS (SELECT 1 FROM taken)"
"""The spend reservation of a turn started in one statement waits for the rate token: with no transaction to roll
back, a message over the limit must reserve nothing."""

_LEFT = text("SELECT REFILLED FROM chat_allowances WHERE scope = :scope".replace("REFILLED", _REFILLED))


@dataclass(frozen=True, slots=True)
class Allowance:
    """A token bucket per customer: at most `capacity` at once, refilled at `capacity` per `period_s`. Each kind
    of allowance keeps its rows under its own scope prefix in `chat_allowances`."""

    capacity: int
    period_s: float
    prefix: str = ""
    what: str = "messages a minute"

    def params(self, customer_id: str, now: datetime) -> dict[str, Any]:
        return {
            "scope": self.prefix + customer_scope(customer_id),
            "now": now.timestamp(),
            "capacity": float(self.capacity),
            "per_second": self.capacity / self.period_s,
        }

    async def refusal(self, session: AsyncSession, customer_id: str, now: datetime) -> RateLimited:
        """The 429 for a customer whose bucket is empty, saying how long until it holds one again."""
        params = self.params(customer_id, now)
        left = (await session.exec(_LEFT, params=params)).scalar_one()  # type: ignore[call-overload]
        wait_s = max(1, math.ceil((1 - float(left)) / params["per_second"]))
        return RateLimited(f"at most {self.capacity} {self.what}; please wait {wait_s} s", wait_s)


TAKE_ONE = text(_TAKE.replace("GATE", "true"))
"""Take one token from an `Allowance`'s bucket (its `params` bound); no row back means it is empty."""

CONVERSATION_IF_ALLOWED = text(
    "WITH taken AS (" + _TAKE.replace("GATE", "true") + ") INSERT INTO conversations (id, customer_id, created_at) "  # noqa: S608 - constant fragments, values bound
    "SELECT :id, :customer_id, :created_at WHERE EXISTS (SELECT 1 FROM taken) RETURNING id"
).bindparams(bindparam("created_at", type_=UTCDateTime()))
"""PostgreSQL: take a token of the customer's new-conversation allowance and store the conversation, in one
statement (its own transaction); no row back means the allowance is used up and nothing was stored."""


def _outcome(claim: CTE, taken: CTE, reserved: CTE | None) -> list[Any]:
    """The columns of a statement that claims and admits: whether the token was taken (`token`), the scopes that
    took the reservation (`reserved`), and the claim's own columns (`claimed` and what it saw; NULL when it
    claimed nothing)."""
    outcome = [select(func.count()).select_from(taken).scalar_subquery().label("token")]
    if reserved is not None:
        outcome.append(select(func.string_agg(reserved.c.scope, ",")).scalar_subquery().label("reserved"))
    return [*outcome, *(select(c).scalar_subquery().label(c.name) for c in claim.c)]


@dataclass(frozen=True, slots=True)
class Admitted:
    reserved_micro_usd: int
    spent_budget: str | None
    """The daily budget that is used up (the run is answered without the model), or None."""


@dataclass(frozen=True, slots=True)
class Taken:
    """What the admission's writes came back with, before it is decided (`Admission.decide`)."""

    token: bool
    """The rate limit had a token for this message."""
    reserved: set[str]
    """The spend counters (scopes) that took the run's reservation."""


class Admission:
    def __init__(self, *, per_minute: int, spend: DailySpend | None, conversations_per_hour: int | None = None) -> None:
        self.per_minute = per_minute
        self.chat = Allowance(per_minute, 60.0)
        self.conversations = (
            Allowance(conversations_per_hour, 3600.0, "conversations:", "new conversations an hour")
            if conversations_per_hour
            else None
        )
        """The bucket new conversations are taken from; None: no limit."""
        self.spend = spend
        self._taking = {gate: text(_TAKE.replace("GATE", gate)) for gate in ("true", _AFTER_CLAIM)}
        """The token's parsed SQL per gate, parsed once rather than for every message."""
        self._started: dict[Hashable, Select[Any]] = {}

    def _rate_params(self, customer_id: str, now: datetime) -> dict[str, Any]:
        return self.chat.params(customer_id, now)

    async def take(
        self,
        session: AsyncSession,
        claim: Update,
        claim_values: dict[str, Any],
        customer_id: str,
        now: datetime,
        run_id: str,
    ) -> tuple[Row[Any] | None, Taken | None]:
        """Run `claim` (the conditional update that claims the conversation, with RETURNING; its values bound from
        `claim_values`) and, if it claimed, take a rate token and reserve the day's spend, in `session`'s
        transaction: on PostgreSQL in one statement. Returns the claim's row and what was taken, or (None, None)
        when the claim took nothing (the caller may take the conversation over, then calls `take_alone`);
        `decide` tells what was taken means."""
        if not dialect_of(session.bind).one_statement_writes:
            claimed = (await session.exec(claim, params=claim_values)).first()
            alone = await self.take_alone(session, customer_id, now, run_id) if claimed is not None else None
            return claimed, alone
        values = self.values(claim_values, customer_id, now, run_id)
        row = (await session.exec(self._starting(claim), params=values)).one()  # type: ignore[call-overload]
        if row.claimed is None:
            return None, None
        return row, self.taken(row)

    def values(self, claim_values: dict[str, Any], customer_id: str, now: datetime, run_id: str) -> dict[str, Any]:
        """The values of the claim, the rate token and the spend reservation, for the statements that take them
        together."""
        values = {**claim_values, **self._rate_params(customer_id, now)}
        if self.spend is not None:
            values.update(self.spend.reservation_values(customer_id, now.date(), run_id))
        return values

    def taken(self, row: Row[Any]) -> Taken:
        """What a statement that took the token and the reservation together came back with (its `token` and
        `reserved` columns: see `_outcome`)."""
        scopes = set(row.reserved.split(",")) if self.spend is not None and row.reserved else set()
        return Taken(bool(row.token), scopes)

    def admitting(self, claim: Update) -> tuple[list[CTE], list[Any]]:
        """PostgreSQL, for a turn started in one statement without a transaction of its own
        (`agent.conversations.postgres_writes`): the claim, then the rate token only if it claimed, then the spend
        reservation only if the token was taken, as CTEs to add to the statement in this order (each names the one
        before it, which PostgreSQL allows only of those before it; the conversation's row is locked first, as
        everywhere); and the columns that say what was taken (`taken`). The writes that store the turn wait for the
        token, the second CTE."""
        claim_cte = claim.cte("claim")
        taken = self._taking[_AFTER_CLAIM].columns(column("tokens")).cte("taken")
        reserved = None
        if self.spend is not None:
            reserved = self.spend.reserving(_AFTER_TAKEN).columns(column("scope")).cte("reserved")
        ctes = [claim_cte, taken] if reserved is None else [claim_cte, taken, reserved]
        return ctes, _outcome(claim_cte, taken, reserved)

    def _starting(self, claim: Update) -> Select[Any]:
        """PostgreSQL: the claim, the rate token and the spend reservation as one statement, built once per claim
        statement and run with its values bound: building it for every message cost about as much CPU as running it."""
        return built_once(self._started, claim, lambda: self._start_statement(claim))

    def _start_statement(self, claim: Update) -> Select[Any]:
        claim_cte = claim.cte("claim")
        taken = self._taking[_AFTER_CLAIM].columns(column("tokens")).cte("taken")
        reserved = None
        if self.spend is not None:
            reserved = self.spend.reserving(_AFTER_CLAIM).columns(column("scope")).cte("reserved")
        # The claim first: PostgreSQL lets a CTE name only those before it.
        statement: Select[Any] = select(*_outcome(claim_cte, taken, reserved)).add_cte(claim_cte)
        return statement

    async def take_alone(self, session: AsyncSession, customer_id: str, now: datetime, run_id: str) -> Taken:
        """The rate token and the spend reservation, as statements of their own."""
        # The statements are the ones parsed once, their values bound as they run: a statement made for one use
        # would be compiled again for every message.
        rate = self._taking["true"]
        token = (await session.exec(rate, params=self._rate_params(customer_id, now))).first() is not None  # type: ignore[call-overload]
        if self.spend is None:
            return Taken(token, set())
        values = self.spend.reservation_values(customer_id, now.date(), run_id)
        return Taken(token, {r[0] for r in (await session.exec(self.spend.reserving("true"), params=values)).all()})  # type: ignore[call-overload]

    async def decide(self, session: AsyncSession, customer_id: str, now: datetime, taken: Taken) -> Admitted:
        """Raise `RateLimited` (the caller rolls back) or say what the spend reservation came to."""
        if not taken.token:
            raise await self.chat.refusal(session, customer_id, now)
        if self.spend is None:
            return Admitted(0, None)
        spent = await self.spend.admitted(session, customer_id, now.date(), taken.reserved)
        return Admitted(0 if spent else self.spend.reservation_micro_usd, spent)

    async def reserve(self, session: AsyncSession, customer_id: str, now: datetime, run_id: str) -> Admitted:
        """The spend reservation alone: for runs that do not start from a customer message (resumed runs)."""
        if self.spend is None:
            return Admitted(0, None)
        spent = await self.spend.reserve(session, customer_id, now.date(), run_id)
        return Admitted(0 if spent else self.spend.reservation_micro_usd, spent)
