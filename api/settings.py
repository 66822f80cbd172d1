"""Configuration from the environment. Every setting has a default that runs the service with no keys:
SQLite in `./var`, the offline model, and a development JWT secret (with a warning)."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from agent.budget import RunLimits

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

    context_tokens: int = Field(default=100_000, gt=0, alias="SUPPORT_CONTEXT_TOKENS")
    """History shown to the model per request, in estimated tokens; older turns are dropped first."""
    max_tool_result_chars: int = Field(default=20_000, gt=100, alias="SUPPORT_MAX_TOOL_RESULT_CHARS")
    max_model_calls: int = Field(default=8, gt=0, alias="SUPPORT_MAX_MODEL_CALLS")
    run_timeout_s: float = Field(default=60.0, gt=0, alias="SUPPORT_RUN_TIMEOUT_S")
    max_run_tokens: int = Field(default=200_000, gt=0, alias="SUPPORT_MAX_RUN_TOKENS")
    max_run_cost_usd: float = Field(default=0.50, gt=0, alias="SUPPORT_MAX_RUN_COST_USD")

    chat_per_minute: int = Field(default=20, gt=0, alias="SUPPORT_CHAT_PER_MINUTE")
    """Messages a customer may send per minute (all replicas together); more get 429 with Retry-After."""
    customer_daily_cost_usd: float = Field(default=2.0, gt=0, alias="SUPPORT_CUSTOMER_DAILY_COST_USD")
    store_daily_cost_usd: float = Field(default=500.0, gt=0, alias="SUPPORT_STORE_DAILY_COST_USD")

    policy_file: Path | None = Field(default=None, alias="SUPPORT_POLICY_FILE")
    seed_store: bool = Field(default=True, alias="SUPPORT_SEED")
    """Load the fixture store into an empty database at start-up."""
    max_message_bytes: int = Field(default=8192, alias="SUPPORT_MAX_MESSAGE_BYTES")
    jaeger_ui_url: str | None = Field(default=None, alias="JAEGER_UI_URL")
    """With it set, approvals carry a ready link to their run's trace."""

    embeddings: str | None = Field(default=None, alias="SUPPORT_EMBEDDINGS")
    """`openai:<model>@<base url>`: the help centre's search adds vectors from this OpenAI-compatible
    embeddings endpoint. Unset: keyword search only."""
    embeddings_api_key: SecretStr | None = Field(default=None, alias="SUPPORT_EMBEDDINGS_API_KEY")
    help_centre_dir: Path | None = Field(default=None, alias="SUPPORT_HELP_CENTRE_DIR")
    """The articles imported at seed time; the store's own help centre (`fixtures/help_centre`) by default."""

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

    def run_limits(self) -> RunLimits:
        return RunLimits(
            max_model_calls=self.max_model_calls,
            wall_clock_s=self.run_timeout_s,
            max_tokens=self.max_run_tokens,
            max_cost_micro_usd=round(self.max_run_cost_usd * 1_000_000),
        )
