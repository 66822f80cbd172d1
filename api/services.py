"""The service's parts, built once per process from the settings and shared by every request."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from sqlmodel import select

from agent import (
    Admission,
    AgentLoop,
    ApprovalDecisions,
    ApprovalStore,
    CallBounds,
    ConfirmationAnswers,
    DailySpend,
    FeedbackStore,
    HandoffClosing,
    HandoffStore,
    Model,
    ModelRoutes,
    ReplyCheck,
    RunRecovery,
    RunStore,
    Telemetry,
    ToolGate,
    TurnPacer,
    WorkerLease,
    customer_terms,
    store_stripes,
)
from api import migrate
from api.feed_hub import FeedHub
from api.identity import TokenVerifier, check_identity_settings
from api.model_setup import build_routes, load_prompt_versions
from api.ops.sweeps import ExpirySweeper
from api.prices import load_prices
from api.settings import Settings, golden_cases_folder, secret
from basics.database import Database
from policies.config import PolicyConfig, load_policy
from policies.engine import PolicyEngine
from tools import registry
from tools.knowledge.embeddings import Embedder, parse_spec
from tools.knowledge.errors import KnowledgeError
from tools.knowledge.importer import DEFAULT_DIRECTORY, embed_missing, import_articles
from tools.knowledge.search import HelpCentre
from tools.store.loader import seed_store
from tools.store.tables import Product

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class Services:
    settings: Settings
    database: Database
    policy: PolicyConfig
    engine: PolicyEngine
    gate: ToolGate
    runs: RunStore
    approvals: ApprovalStore
    model: Model
    """The default route's model (`routes` has the simple route's too)."""
    routes: ModelRoutes
    loop: AgentLoop
    desk: ApprovalDecisions
    lease: WorkerLease
    recovery: RunRecovery
    handoffs: HandoffStore
    sweeper: ExpirySweeper
    verifier: TokenVerifier
    confirmations: ConfirmationAnswers
    feed: FeedHub
    feedback: FeedbackStore
    """Customers' verdicts on answers (`agent.quality.feedback`)."""
    knowledge: HelpCentre = field(default_factory=HelpCentre)
    handoff_desk: HandoffClosing = field(init=False)
    """Closing hand-offs; `bot` gives the conversation back to the assistant (`agent.held.handoff_closing`)."""
    _tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    _housekeeping: asyncio.Task[None] | None = None
    _closing: bool = False

    def start_housekeeping(self) -> None:
        """Recover the runs of stopped processes now, then renew this process's lease and look for such runs
        again every few seconds."""
        self.spawn(self.recovery.sweep())
        self._housekeeping = asyncio.get_running_loop().create_task(self._keep_house())

    async def _keep_house(self) -> None:
        interval = self.lease.heartbeat_every_s
        sweeps = 0
        while not self._closing:
            await asyncio.sleep(interval)
            try:
                await self.lease.renew()
                sweeps += 1
                if sweeps % 3 == 0:
                    await self.recovery.sweep()
                    await self.desk.recover()
            except Exception:  # housekeeping must outlive a passing database error
                log.exception("housekeeping pass failed; trying again in %.0f s", interval)

    def spawn(self, work: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        """Start `work` as a task the service owns: nothing a request does can cancel it, and shutdown waits."""
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def shielded(self, work: Coroutine[Any, Any, T]) -> T:
        """Run `work` so that a client going away cannot cancel it half-way: the task is owned by the service,
        and the request only waits for it. Shutdown waits for such tasks to finish."""
        return await asyncio.shield(self.spawn(work))

    async def idle(self) -> None:
        """Wait until every task the service owns has finished (runs whose clients went away, for instance)."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    async def close(self, grace_s: float = 30.0) -> None:
        self._closing = True
        if self._housekeeping is not None:
            # A cancellation that lands inside a database call can come back as a database error, which the loop
            # survives by design; the flag ends it then. Waiting makes sure it is over before the database goes.
            self._housekeeping.cancel()
            await asyncio.wait({self._housekeeping}, timeout=grace_s)
        await self.sweeper.stop()
        await self.feed.close()
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=grace_s)
        if not self._tasks:
            await self.lease.resign()
        await self.routes.close()
        if self.knowledge.embedder is not None:
            await self.knowledge.embedder.close()
        await self.database.dispose()


async def build_services(
    settings: Settings,
    *,
    model: Model | None = None,
    simple_model: Model | None = None,
    telemetry: Telemetry | None = None,
) -> Services:
    """`model` and `simple_model` replace the configured default and simple routes' models (tests, evaluations)."""
    check_identity_settings(settings)
    golden_cases_folder(settings.golden_cases_dir)
    telemetry = telemetry or Telemetry()
    prompts = load_prompt_versions(settings)
    routes = build_routes(settings, telemetry, model=model, simple_model=simple_model)
    prices = load_prices(settings)
    database = Database(settings.database_url, pool=settings.pool_limits())
    await prepare_database(database, seed=settings.seeds_at_start, help_centre=settings.help_centre_dir)
    knowledge = await build_help_centre(settings, database)
    policy = load_policy(settings.policy_file)
    engine = PolicyEngine(policy, registry)
    gate = ToolGate(database, engine, registry, knowledge=knowledge)
    lease = WorkerLease(database, lease=timedelta(seconds=settings.worker_lease_s))
    await lease.register()
    store_micro_usd = round(settings.store_daily_cost_usd * 1_000_000)
    spend = DailySpend(
        customer_micro_usd=round(settings.customer_daily_cost_usd * 1_000_000),
        store_micro_usd=store_micro_usd,
        reservation_micro_usd=settings.spend_reservation_micro_usd,
        # SQLite writes one transaction at a time: stripes would split the budget and gain nothing.
        stripes=store_stripes(store_micro_usd, settings.spend_reservation_micro_usd)
        if database.traits.concurrent_writers
        else 1,
    )
    runs = RunStore(
        database,
        stale_after=timedelta(seconds=settings.run_timeout_s * 2 + 30),
        admission=Admission(
            per_minute=settings.chat_per_minute,
            spend=spend,
            conversations_per_hour=settings.conversations_per_hour or None,
        ),
        spend=spend,
        lease=lease,
    )
    approvals = ApprovalStore(
        database,
        ttl=timedelta(hours=policy.approvals.ttl_hours),
        confirmation_ttl=timedelta(minutes=policy.confirmations.ttl_minutes),
    )
    loop = AgentLoop(
        routes=routes,
        gate=gate,
        runs=runs,
        approvals=approvals,
        registry=registry,
        prices=prices,
        limits=settings.run_limits(),
        prompts=prompts,
        max_tokens=settings.max_output_tokens,
        context_tokens=settings.context_tokens,
        max_result_chars=settings.max_tool_result_chars,
        telemetry=telemetry,
        call_bounds=CallBounds(per_answer=settings.max_tool_calls_per_answer, per_run=settings.max_tool_calls_per_run),
        pacer=TurnPacer(settings.turns_at_once or None),
        reply_check=ReplyCheck(settings.grounding_flags, await product_names(database)),
    )
    loop.telemetry.personal_data = partial(customer_terms, database)
    # A decision's run waits for its conversation while another run answers there; that run ends within its
    # wall-clock budget (or its process is gone, and the claim is taken over).
    claim_wait = timedelta(seconds=settings.run_timeout_s + 5)
    desk = ApprovalDecisions(
        database=database,
        approvals=approvals,
        runs=runs,
        gate=gate,
        engine=engine,
        policy=policy,
        registry=registry,
        loop=loop,
        claim_wait=claim_wait,
    )
    recovery = RunRecovery(
        database=database, runs=runs, loop=loop, desk=desk, lease=lease, wait_s=claim_wait.total_seconds()
    )
    # Decisions a stopped process left half-done, and approvals that expired while nobody was running. Its runs
    # are recovered once the service is up (`start_housekeeping`), as answering them may take model calls.
    await desk.recover(grace=timedelta(0))
    await desk.expire_due()
    if settings.uses_dev_secret:
        log.warning("SUPPORT_JWT_SECRET is not set: using the development secret. Never do this in production.")
    services = Services(
        settings=settings,
        database=database,
        policy=policy,
        engine=engine,
        gate=gate,
        runs=runs,
        approvals=approvals,
        model=routes.default,
        routes=routes,
        loop=loop,
        desk=desk,
        lease=lease,
        recovery=recovery,
        handoffs=HandoffStore(database),
        sweeper=ExpirySweeper(desk, interval_s=settings.approval_sweep_s),
        verifier=TokenVerifier(settings),
        confirmations=ConfirmationAnswers(desk),
        feed=FeedHub(
            database, interval_s=settings.feed_poll_s, streams_per_customer=settings.feed_streams_per_customer or None
        ),
        feedback=FeedbackStore(database),
        knowledge=knowledge,
    )
    services.handoff_desk = HandoffClosing(handoffs=services.handoffs, runs=runs, loop=loop, spawn=services.spawn)
    services.sweeper.start()
    return services


async def product_names(database: Database) -> frozenset[str]:
    """The store's product names, lower-cased: what the grounding check takes for an item a reply names."""
    async with database.session(readonly=True) as session:
        return frozenset(name.lower() for name in (await session.exec(select(Product.name))).all())


async def prepare_database(database: Database, *, seed: bool, help_centre: Path | None = None) -> None:
    """Bring the schema up to date and, if asked, seed an empty store and import the help centre's articles
    (only those that changed since the last import)."""
    await migrate.upgrade(database)
    if seed:
        await seed_store(database)
        await import_articles(database, help_centre or DEFAULT_DIRECTORY)


def build_embedder(settings: Settings) -> Embedder | None:
    spec = parse_spec(settings.embeddings)
    if spec is None:
        return None
    return Embedder(spec, api_key=secret(settings.embeddings_api_key) or secret(settings.openai_api_key))


async def build_help_centre(settings: Settings, database: Database) -> HelpCentre:
    """The help centre's search; with an embedding model, passages without vectors are embedded first. An
    endpoint that is down does not stop the service: search uses keywords until the vectors exist."""
    embedder = build_embedder(settings)
    if embedder is not None:
        try:
            await embed_missing(database, embedder)
        except KnowledgeError as exc:
            log.warning("help-centre passages not embedded yet: %s", exc)
    return HelpCentre(embedder)
