"""Configuration from the environment. Every setting has a default that runs the service with no keys:
SQLite in `./var`, the offline model, and a development JWT secret (with a warning)."""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from agent import FlagMode, RunLimits
from api.errors import ConfigurationError
from api.ops.capacity import ConnectionBudget
from basics.database import PoolLimits

DEV_JWT_SECRET = "dev-only-secret-change-me-0123456789abcdef"  # noqa: S105 - flagged at start-up when used


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", populate_by_name=True)

    database_url: str = Field(default="sqlite:///var/support.sqlite3", alias="DATABASE_URL")
    jwt_secret: SecretStr = Field(default=SecretStr(DEV_JWT_SECRET), alias="SUPPORT_JWT_SECRET")
    model: str | None = Field(default=None, alias="SUPPORT_MODEL")
    """`offline`, or `anthropic:<model id>`. Unset: Anthropic's default model when a key is set, else offline."""
    anthropic_api_key: SecretStr | None = Field(default=None, alias="ANTHROPIC_API_KEY")
    anthropic_base_url: str | None = Field(default=None, alias="ANTHROPIC_BASE_URL")
    model_fallbacks: str = Field(default="", alias="SUPPORT_MODEL_FALLBACKS")
    """Comma-separated models to try, in order, when the one before fails: `anthropic:<id>`,
    `openai:<model>@<base url>` (any OpenAI-compatible endpoint), `offline`. With an Anthropic primary and
    nothing set, the offline model is the last resort."""
    openai_api_key: SecretStr | None = Field(default=None, alias="OPENAI_API_KEY")
    anthropic_default_model: str = Field(default="claude-sonnet-4-6", alias="SUPPORT_ANTHROPIC_DEFAULT_MODEL")
    model_timeout_s: float = Field(default=30.0, gt=0, alias="SUPPORT_MODEL_TIMEOUT_S")
    model_max_retries: int = Field(default=2, ge=0, le=10, alias="SUPPORT_MODEL_MAX_RETRIES")
    max_output_tokens: int = Field(default=1024, gt=0, alias="SUPPORT_MAX_OUTPUT_TOKENS")
    """Tokens the visible answer may take. A Claude model that thinks gets room for its thinking on top (its
    budget, or 8192 tokens for adaptive thinking), within what the model can write; checked at start-up."""
    thinking: str | None = Field(default=None, alias="SUPPORT_THINKING")
    """How Claude thinks: unset (the model's own default: adaptive on the models that think by default, none on
    the others), `off`, `adaptive`, or a thinking budget in tokens (1024 or more, on models that take one). A
    setting the model refuses stops the start-up."""
    model_routes: str = Field(default="", alias="SUPPORT_MODEL_ROUTES")
    """A cheaper model for turns that only read, e.g. `simple=anthropic:claude-haiku-4-5,default=anthropic:claude-
    sonnet-4-6`; `+` joins a route's fallbacks. Without `default=` the default route is SUPPORT_MODEL with
    SUPPORT_MODEL_FALLBACKS. Empty (the default): every turn goes to the default model (`agent.routing.routes`)."""
    prompt_version: str | None = Field(default=None, alias="SUPPORT_PROMPT_VERSION")
    """The live prompt version: a folder name (e.g. `v1`) or its id. Unset: the newest
    (`agent.routing.prompt_versions`)."""
    prompt_canary: str | None = Field(default=None, alias="SUPPORT_PROMPT_CANARY")
    """Another prompt version for a share of conversations, chosen by a hash of the conversation id, e.g. `v2:10`
    (10%). Unset: none. Removing it rolls those conversations back to the live version on their next turn."""
    prompts_dir: Path | None = Field(default=None, alias="SUPPORT_PROMPTS_DIR")
    """A folder of prompt versions to use instead of the ones packaged in `agent/prompts`."""

    context_tokens: int = Field(default=100_000, gt=0, alias="SUPPORT_CONTEXT_TOKENS")
    """History shown to the model per request, in estimated tokens; older turns are dropped first."""
    max_tool_result_chars: int = Field(default=20_000, gt=100, alias="SUPPORT_MAX_TOOL_RESULT_CHARS")
    max_model_calls: int = Field(default=8, gt=0, alias="SUPPORT_MAX_MODEL_CALLS")
    run_timeout_s: float = Field(default=60.0, gt=0, alias="SUPPORT_RUN_TIMEOUT_S")
    max_run_tokens: int = Field(default=200_000, gt=0, alias="SUPPORT_MAX_RUN_TOKENS")
    max_run_cost_usd: float = Field(default=0.50, gt=0, alias="SUPPORT_MAX_RUN_COST_USD")

    chat_per_minute: int = Field(default=20, gt=0, alias="SUPPORT_CHAT_PER_MINUTE")
    """Messages a customer may send per minute (all replicas together); more get 429 with Retry-After."""
    conversations_per_hour: int = Field(default=30, ge=0, alias="SUPPORT_CONVERSATIONS_PER_HOUR")
    """New conversations a customer may start per hour (all replicas together; a burst of up to this many at
    once); more get 429 with Retry-After. 0: no limit."""
    feed_streams_per_customer: int = Field(default=10, ge=0, alias="SUPPORT_FEED_STREAMS_PER_CUSTOMER")
    """Conversation feeds (`/events` streams) one customer may hold open at once on each server process (each
    holds a connection and a queue there); more get 429 until one closes. 0: no limit. Staff are not limited."""
    customer_daily_cost_usd: float = Field(default=2.0, gt=0, alias="SUPPORT_CUSTOMER_DAILY_COST_USD")
    store_daily_cost_usd: float = Field(default=500.0, gt=0, alias="SUPPORT_STORE_DAILY_COST_USD")
    spend_reservation_usd: float | None = Field(default=None, gt=0, alias="SUPPORT_SPEND_RESERVATION_USD")
    """What a run reserves against the daily budgets before calling a model; default: the per-run cost budget,
    so concurrent runs never pass a daily budget by more than one run's reservation."""
    max_tool_calls_per_answer: int = Field(default=8, gt=0, le=100, alias="SUPPORT_MAX_TOOL_CALLS_PER_ANSWER")
    max_tool_calls_per_run: int = Field(default=24, gt=0, le=500, alias="SUPPORT_MAX_TOOL_CALLS_PER_RUN")
    worker_lease_s: float = Field(default=10.0, ge=1, le=600, alias="SUPPORT_WORKER_LEASE_S")
    """A process that has not renewed its lease for this long is taken for dead and its runs are recovered."""

    db_pool_size: int = Field(default=10, ge=1, le=1000, alias="SUPPORT_DB_POOL_SIZE")
    """PostgreSQL connections each process keeps open (SQLite ignores the pool settings)."""
    db_pool_overflow: int = Field(default=20, ge=0, le=1000, alias="SUPPORT_DB_POOL_OVERFLOW")
    """Extra connections a process may open under load, closed again when returned."""
    db_max_connections: int = Field(default=90, ge=1, alias="SUPPORT_DB_MAX_CONNECTIONS")
    """The most PostgreSQL connections all of one server's workers may open together (workers x (pool + overflow)):
    a default worker count is lowered to fit, an explicit one that does not fit refuses to start. 90 leaves
    PostgreSQL's default max_connections (100) room for its superuser slots, `support migrate` and a psql."""
    db_pool_timeout_s: float = Field(default=30.0, gt=0, alias="SUPPORT_DB_POOL_TIMEOUT_S")
    """How long a request waits for a free connection before it fails."""
    db_pool_recycle_s: float = Field(default=1800.0, gt=0, alias="SUPPORT_DB_POOL_RECYCLE_S")
    db_pool_pre_ping: bool = Field(default=True, alias="SUPPORT_DB_POOL_PRE_PING")
    """Check a connection with a round trip when it is taken from the pool after lying idle (see
    `PoolLimits.pre_ping`)."""

    turns_at_once: int = Field(default=4, ge=0, le=10_000, alias="SUPPORT_TURNS_AT_ONCE")
    """How many turns (and new conversations) each process computes at once; the others wait in arrival order, and
    a turn waiting on the model holds no place (`agent/limits/pacing.py`). 0: no limit."""

    policy_file: Path | None = Field(default=None, alias="SUPPORT_POLICY_FILE")
    seed_store: bool | None = Field(default=None, alias="SUPPORT_SEED")
    """Load the fixture store into an empty database at start-up. Unset: on in development only; elsewhere the
    store is seeded by the explicit `support seed` command."""
    max_message_bytes: int = Field(default=8192, alias="SUPPORT_MAX_MESSAGE_BYTES")
    max_request_bytes: int | None = Field(default=None, ge=4096, le=64 * 1024 * 1024, alias="SUPPORT_MAX_REQUEST_BYTES")
    """The largest request body any route takes, checked before the body is read and before the caller is
    identified (413). Unset: 64 KiB, or more if the message limit needs it (`request_limit`)."""
    feed_poll_s: float = Field(default=0.5, gt=0, le=30, alias="SUPPORT_FEED_POLL_SECONDS")
    """How often each process reads new conversation events for its connected feed clients (one query for all)."""
    approval_sweep_s: float = Field(default=30.0, gt=0, alias="SUPPORT_APPROVAL_SWEEP_S")
    """How often the background sweep expires approvals past their deadline."""
    desk_session_minutes: int = Field(default=480, gt=0, alias="SUPPORT_DESK_SESSION_MINUTES")
    """How long a desk sign-in lasts before staff sign in again."""
    desk_secure_cookie: bool | None = Field(default=None, alias="SUPPORT_DESK_SECURE_COOKIE")
    """Unset: the desk cookie is Secure (HTTPS only) unless the service runs on the development secret."""
    cors_origins: str = Field(default="", alias="SUPPORT_CORS_ORIGINS")
    """Comma-separated origins whose pages may call the API from a browser (the widget's hosts), e.g.
    `https://shop.example,https://help.example`. Empty (the default): no cross-origin browser calls at all."""
    demo_enabled: bool = Field(default=False, alias="SUPPORT_DEMO")
    """Serve `/demo`, where anyone can pick a seed customer and chat as them. Also on with the development
    secret; never turn it on where the store's data is real."""
    golden_cases_dir: Path | None = Field(default=None, alias="SUPPORT_GOLDEN_CASES_DIR")
    """Where the desk's "Add to the golden cases" saves a reviewed conversation as a case file (a writable folder,
    checked at start-up). Unset: the desk offers the case as a download instead."""
    grounding_flags: FlagMode = Field(default=FlagMode.RECORD, alias="SUPPORT_GROUNDING_FLAGS")
    """What a model reply stating something the run never saw does (`agent.quality.grounding`): `record` (the
    default) sends it and flags the run for review; `hold` withholds it, tells the customer a colleague will check
    the answer, and hands the conversation to the desk."""
    jaeger_ui_url: str | None = Field(default=None, alias="JAEGER_UI_URL")
    """With it set, approvals carry a ready link to their run's trace."""

    environment: str = Field(default="development", alias="SUPPORT_ENV")
    """`development` (the default: dev secret allowed, seed data loaded) or anything else, e.g. `production`."""
    jwks_url: str | None = Field(default=None, alias="SUPPORT_JWKS_URL")
    """The identity provider's JWKS: RS256/ES256 tokens are verified with its keys (cached)."""
    jwt_issuer: str | None = Field(default=None, alias="SUPPORT_JWT_ISSUER")
    jwt_audience: str | None = Field(default=None, alias="SUPPORT_JWT_AUDIENCE")
    log_format: str = Field(default="json", pattern="^(json|text)$", alias="SUPPORT_LOG_FORMAT")
    metrics_enabled: bool = Field(default=False, alias="SUPPORT_METRICS")
    """Serve the OpenTelemetry metrics for Prometheus at `/metrics`."""
    prices_file: Path | None = Field(default=None, alias="SUPPORT_PRICES_FILE")
    """A price table (TOML, the shape of `agent/limits/prices.toml`) to use instead of the built-in one."""
    free_models: str = Field(default="", alias="SUPPORT_FREE_MODELS")
    """Comma-separated model-name prefixes that cost nothing (a self-hosted fallback, e.g. `llama3.1`)."""

    @property
    def is_development(self) -> bool:
        return self.environment.strip().lower() == "development"

    @property
    def seeds_at_start(self) -> bool:
        return self.is_development if self.seed_store is None else self.seed_store

    @property
    def demo_open(self) -> bool:
        return self.demo_enabled or self.uses_dev_secret

    @property
    def desk_cookie_secure(self) -> bool:
        return self.desk_secure_cookie if self.desk_secure_cookie is not None else not self.uses_dev_secret

    embeddings: str | None = Field(default=None, alias="SUPPORT_EMBEDDINGS")
    """`openai:<model>@<base url>`: the help centre's search adds vectors from this OpenAI-compatible
    embeddings endpoint. Unset: keyword search only."""
    embeddings_api_key: SecretStr | None = Field(default=None, alias="SUPPORT_EMBEDDINGS_API_KEY")
    help_centre_dir: Path | None = Field(default=None, alias="SUPPORT_HELP_CENTRE_DIR")
    """The articles imported at seed time; by default the store's own help centre, packaged inside `tools.knowledge`
    (a checkout's `fixtures/help_centre` overrides it: `tools.data_files`)."""

    @property
    def uses_dev_secret(self) -> bool:
        return self.jwt_secret.get_secret_value() == DEV_JWT_SECRET

    @cached_property
    def model_spec(self) -> str:
        if self.model:
            return self.model
        if self.anthropic_api_key:
            return f"anthropic:{self.anthropic_default_model}"
        return "offline"

    @property
    def request_limit(self) -> int:
        """`max_request_bytes`, or enough for the largest message written all in JSON escapes (`\\u0001`: six bytes
        for one) with room for the rest of the body."""
        if self.max_request_bytes is not None:
            return self.max_request_bytes
        return max(65_536, 6 * self.max_message_bytes + 4096)

    @property
    def spend_reservation_micro_usd(self) -> int:
        return round((self.spend_reservation_usd or self.max_run_cost_usd) * 1_000_000)

    def pool_limits(self) -> PoolLimits:
        return PoolLimits(
            size=self.db_pool_size,
            overflow=self.db_pool_overflow,
            timeout_s=self.db_pool_timeout_s,
            recycle_s=self.db_pool_recycle_s,
            pre_ping=self.db_pool_pre_ping,
        )

    def connection_budget(self) -> ConnectionBudget:
        return ConnectionBudget(per_worker=self.db_pool_size + self.db_pool_overflow, maximum=self.db_max_connections)

    def run_limits(self) -> RunLimits:
        return RunLimits(
            max_model_calls=self.max_model_calls,
            wall_clock_s=self.run_timeout_s,
            max_tokens=self.max_run_tokens,
            max_cost_micro_usd=round(self.max_run_cost_usd * 1_000_000),
        )


def secret(value: SecretStr | None) -> str | None:
    """A secret setting's value, for the client that needs it; None when unset."""
    return value.get_secret_value() if value else None


def golden_cases_folder(folder: Path | None) -> Path | None:
    """`SUPPORT_GOLDEN_CASES_DIR`, checked at start-up: a folder this process can write, else the service does
    not start (a case a reviewer wrote must not fail only when it is saved)."""
    if folder is None:
        return None
    if not folder.is_dir():
        raise ConfigurationError(f"SUPPORT_GOLDEN_CASES_DIR {folder} is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigurationError(f"SUPPORT_GOLDEN_CASES_DIR {folder} is not writable by this process")
    return folder
