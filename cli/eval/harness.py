"""Playing a case against the real service: the HTTP app in-process, a fresh store per case, a chosen model.

Each case gets its own copy of a seeded SQLite store (one file copy of a template built once), its own app
(lifespan included, so the workers, sweepers and recovery run as in production) and its own in-memory trace
exporter, so cases run concurrently without seeing each other's writes or spans. Every turn goes through the
public HTTP API with a signed token, exactly as the widget (the customer) and the desk (staff) call it.

Two ways in:

* `play(name, conversation, target=..., store=...)` plays a scripted case turn by turn (the golden suite);
* `open_session(...)` hands out a `CaseSession` to drive turn by turn from outside (a simulated customer that
  decides its next message from the last reply), then `session.transcript()`.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlmodel import col, select

from agent import Approval, ApprovalStatus, Model, Run, RunFlag, Step, Telemetry
from basics.database import Database
from evals.cases import Conversation, StoreSnapshot, Turn
from evals.store_state import apply_snapshot, customer_state
from evals.transcript import (
    ToolCallRecord,
    Transcript,
    TurnRecord,
    held_record,
    run_record,
    span_record,
)

STAFF_IDS = {"agent": "eval_support_agent", "supervisor": "eval_supervisor"}
"""Who decides approvals in an evaluation; the desk shows these ids as the deciders."""


@dataclass(frozen=True, slots=True)
class Target:
    """The service under evaluation: its model and any settings that differ from the defaults.

    `model` is a model spec as `SUPPORT_MODEL` takes it (`offline`, `anthropic:<id>`); the Anthropic key and
    base URL come from `settings` (`ANTHROPIC_API_KEY`, `ANTHROPIC_BASE_URL`) or the environment. `instance`
    replaces the configured model object outright (a test's scripted model), and `settings` can point at
    another policy file (`SUPPORT_POLICY_FILE`) to see what a changed rule does to the suite. Settings not given
    here come from the environment, as for the service itself; the database and the signing secret are always
    the case's own.
    """

    model: str = "offline"
    settings: Mapping[str, Any] = field(default_factory=dict)
    instance: Model | None = None
    simple_instance: Model | None = None
    """The simple route's model (`agent.routing.routes`): with it, the service routes turns between it and the
    default."""

    @property
    def label(self) -> str:
        return f"{self.instance.provider}:{self.instance.name}" if self.instance else self.model


class StoreTemplate:
    """A seeded, migrated SQLite store built once; every case plays on its own file copy of it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    async def build(cls, directory: Path) -> StoreTemplate:
        """Migrate and seed a store (the fixture data and the help centre) in `directory`."""
        from api.services import prepare_database

        path = directory / "template.sqlite3"
        await asyncio.to_thread(_clear, path)
        database = Database(f"sqlite:///{path}")
        try:
            await prepare_database(database, seed=True)
        finally:
            await database.dispose()
        return cls(path)

    def copy(self) -> str:
        """A fresh copy for one case; returns its database URL. The copy sits beside the template."""
        target = self.path.with_name(f"case-{uuid.uuid4().hex[:12]}.sqlite3")
        shutil.copyfile(self.path, target)
        return f"sqlite:///{target}"


class CaseSession:
    """One conversation with the service under evaluation, driven turn by turn."""

    def __init__(
        self,
        case: str,
        customer: str,
        target: Target,
        *,
        http: httpx.AsyncClient,
        database: Database,
        secret: str,
        spans: InMemorySpanExporter,
    ) -> None:
        self.case = case
        self.customer = customer
        self.target = target
        self._http = http
        self._database = database
        self._secret = secret
        self._spans = spans
        self.conversation_id = ""
        self.turns: list[TurnRecord] = []
        self.last_run: dict[str, Any] | None = None
        self.initial_state: dict[str, Any] = {}
        self._started = time.monotonic()

    def _bearer(self, subject: str, role: str) -> dict[str, str]:
        from api.auth import mint_token

        return {"Authorization": f"Bearer {mint_token(self._secret, subject, role, timedelta(hours=2))}"}

    async def start(self) -> None:
        created = await self._http.post("/v1/conversations", headers=self._bearer(self.customer, "customer"))
        if created.status_code != 201:
            raise HarnessError(f"could not open a conversation for {self.customer}: {created.text}")
        self.conversation_id = str(created.json()["id"])
        self.initial_state = await customer_state(self._database, self.customer)

    async def take(self, turn: Turn) -> TurnRecord:
        """Play one turn of a case."""
        if turn.say is not None:
            return await self.say(turn.say)
        if turn.confirm is not None:
            return await self.answer_confirmation(turn.confirm)
        assert turn.staff is not None
        return await self.decide_approval(turn.staff, turn.note, arguments=turn.arguments, role=turn.role)

    async def say(self, text: str) -> TurnRecord:
        """The customer sends `text`."""
        response = await self._http.post(
            f"/v1/conversations/{self.conversation_id}/messages",
            json={"content": text},
            headers=self._bearer(self.customer, "customer"),
        )
        return self._record("say", text, response)

    async def answer_confirmation(self, decision: str) -> TurnRecord:
        """The customer confirms or declines what the last run waits for (`confirm` | `decline`)."""
        pending = (self.last_run or {}).get("pending_confirmation")
        if not pending:
            return self._nothing_pending("confirm", decision, "no confirmation was pending")
        response = await self._http.post(
            f"/v1/conversations/{self.conversation_id}/confirmations/{pending['id']}",
            json={"decision": decision},
            headers=self._bearer(self.customer, "customer"),
        )
        return self._record("confirm", decision, response)

    async def decide_approval(
        self, action: str, note: str, *, arguments: Mapping[str, Any] | None = None, role: str = "agent"
    ) -> TurnRecord:
        """A support agent (or supervisor) approves, amends or rejects this conversation's pending approval."""
        staff = self._bearer(STAFF_IDS[role], role)
        listed = await self._http.get("/v1/approvals", params={"status": ApprovalStatus.PENDING}, headers=staff)
        label = f"{action}: {note}"
        if not listed.is_success:
            return self._record("staff", label, listed)
        mine = [a for a in listed.json() if a["conversation_id"] == self.conversation_id]
        if not mine:
            return self._nothing_pending("staff", label, "no approval was pending")
        held = mine[-1]
        body: dict[str, Any] = {"note": note}
        if action == "amend":
            body["arguments"] = {**held["arguments"], **(arguments or {})}
        verb = "reject" if action == "reject" else "approve"
        response = await self._http.post(f"/v1/approvals/{held['id']}/{verb}", json=body, headers=staff)
        return self._record("staff", label, response)

    def _record(self, kind: str, text: str, response: httpx.Response) -> TurnRecord:
        body: dict[str, Any] = (
            response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
        )
        if not response.is_success:
            error = body.get("error", {})
            record = TurnRecord(
                kind=kind,
                text=text,
                http_status=response.status_code,
                error=f"{error.get('code', 'error')}: {error.get('message', response.text[:200])}",
            )
        else:
            run = body.get("run") or {}
            self.last_run = run
            record = TurnRecord(
                kind=kind,
                text=text,
                http_status=response.status_code,
                run_status=run.get("status"),
                reply=run.get("reply"),
            )
        self.turns.append(record)
        return record

    def _nothing_pending(self, kind: str, text: str, why: str) -> TurnRecord:
        record = TurnRecord(kind=kind, text=text, http_status=0, error=f"nothing_pending: {why}")
        self.turns.append(record)
        return record

    async def transcript(self) -> Transcript:
        """Read back what the case left: the conversation, runs, steps, held calls, spans and store state."""
        conversation = await self._http.get(
            f"/v1/conversations/{self.conversation_id}", headers=self._bearer(self.customer, "customer")
        )
        messages = conversation.json().get("messages", []) if conversation.is_success else []
        async with self._database.session(readonly=True) as session:
            runs = (
                await session.exec(
                    select(Run).where(col(Run.conversation_id) == self.conversation_id).order_by(col(Run.started_at))
                )
            ).all()
            run_ids = [r.id for r in runs]
            steps = (
                await session.exec(
                    select(Step).where(col(Step.run_id).in_(run_ids), col(Step.kind) == "tool").order_by(col(Step.id))
                )
            ).all()
            flags = (
                await session.exec(
                    select(RunFlag)
                    .where(col(RunFlag.conversation_id) == self.conversation_id)
                    .order_by(col(RunFlag.id))
                )
            ).all()
            held = (
                await session.exec(
                    select(Approval)
                    .where(col(Approval.conversation_id) == self.conversation_id)
                    .order_by(col(Approval.created_at))
                )
            ).all()
        return Transcript(
            case=self.case,
            model=self.target.label,
            customer=self.customer,
            conversation_id=self.conversation_id,
            turns=list(self.turns),
            replies=[m["content"] for m in messages if m["role"] == "assistant"],
            runs=[run_record(r, [f"{f.kind}: {f.value}" for f in flags if f.run_id == r.id]) for r in runs],
            tool_calls=[
                ToolCallRecord(
                    run_id=s.run_id,
                    tool=s.tool or "",
                    arguments=s.arguments,
                    decision=s.decision,
                    rule=s.rule,
                    is_error=s.is_error,
                    result=s.result,
                )
                for s in steps
            ],
            spans=[span_record(s) for s in self._spans.get_finished_spans()],
            held_calls=[held_record(a) for a in held],
            initial_state=self.initial_state,
            final_state=await customer_state(self._database, self.customer),
            latency_s=round(time.monotonic() - self._started, 3),
        )


class HarnessError(RuntimeError):
    """The harness could not play a case (the service refused to open a conversation, or did not start)."""


@asynccontextmanager
async def open_session(
    case: str, customer: str, *, target: Target, store: StoreTemplate, store_data: StoreSnapshot | None = None
) -> AsyncIterator[CaseSession]:
    """Start the service on a fresh copy of the store with `target`'s model (and the case's `store_data` written
    into it), and open a conversation for `customer`. The service stops (and the copy is deleted) when the block
    ends."""
    from api.app import create_app
    from api.settings import Settings

    url = store.copy()
    secret = secrets.token_hex(32)
    settings = Settings.model_validate(
        {
            "DATABASE_URL": url,
            "SUPPORT_JWT_SECRET": secret,
            "SUPPORT_MODEL": target.model,
            "SUPPORT_SEED": False,
            **target.settings,
        }
    )
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    meter_provider = MeterProvider()
    telemetry = Telemetry(tracer_provider, meter_provider, capture_content=False)
    app = create_app(settings, model=target.instance, simple_model=target.simple_instance, telemetry=telemetry)
    database = Database(url)
    try:
        if store_data is not None:
            await apply_snapshot(database, customer, store_data)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://eval.case", timeout=120) as http:
                session = CaseSession(case, customer, target, http=http, database=database, secret=secret, spans=spans)
                await session.start()
                yield session
    finally:
        await database.dispose()
        tracer_provider.shutdown()
        meter_provider.shutdown()
        await asyncio.to_thread(Path(url.removeprefix("sqlite:///")).unlink, missing_ok=True)


async def play(case: str, conversation: Conversation, *, target: Target, store: StoreTemplate) -> Transcript:
    """Play every turn of a case and return its transcript. A case the harness cannot play at all still gets a
    transcript, with `error` set, so one broken case never stops a suite."""
    try:
        async with open_session(
            case, conversation.customer, target=target, store=store, store_data=conversation.store
        ) as session:
            for turn in conversation.turns:
                await session.take(turn)
            return await session.transcript()
    except (HarnessError, httpx.HTTPError, OSError) as error:
        return Transcript(case=case, model=target.label, customer=conversation.customer, error=str(error))


async def play_all(
    cases: Mapping[str, Conversation], *, target: Target, store: StoreTemplate, concurrency: int = 8
) -> dict[str, Transcript]:
    """Play many cases at once, at most `concurrency` at a time; transcripts by case name."""
    limit = asyncio.Semaphore(concurrency)

    async def one(name: str, conversation: Conversation) -> tuple[str, Transcript]:
        async with limit:
            return name, await play(name, conversation, target=target, store=store)

    return dict(await asyncio.gather(*(one(n, c) for n, c in cases.items())))


def _clear(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
