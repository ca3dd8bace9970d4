"""Configuration: one Settings object read from CRM_* environment variables and `.env`."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATA_DIR = Path("var")


class Settings(BaseSettings):
    """Every knob Warmline reads; the README's configuration table mirrors these fields."""

    model_config = SettingsConfigDict(env_prefix="CRM_", env_file=".env", env_file_encoding="utf-8", extra="ignore")

    data_dir: Path = Field(default=DEFAULT_DATA_DIR, description="Where the SQLite file, models and logs live.")
    database_url: str = Field(
        default="",
        description="SQLAlchemy URL; empty means a SQLite file at <data_dir>/warmline.db.",
    )
    redis_url: str = Field(
        default="",
        description="Redis URL for the arq queue; empty means the CLI starts an embedded Valkey.",
    )
    queue_name: str = Field(default="warmline", description="arq queue name and job-id namespace.")
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str = Field(default="", description="Base URL shown to users; derived from host/port if empty.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "console"] = "console"
    secret_key: SecretStr = Field(
        default=SecretStr("dev-only-change-me"),
        description="Signs sessions and webhook secrets; set a long random value in production.",
    )
    debug: bool = False
    db_pool_size: int = 10
    worker_max_jobs: int = 20
    worker_poll_delay: float = Field(
        default=0.05, description="Seconds between arq queue polls (arq's 0.5 s default caps throughput)."
    )
    model_dir: Path = Field(default=Path(""), description="Model registry folder; empty means <data_dir>/models.")
    lead_score_threshold: int = Field(default=60, ge=0, le=100)
    scoring_retrain_min_labels: int = Field(
        default=200, ge=10, description="New CRM outcome labels needed before the nightly warm-lead retrain runs."
    )
    sales_dm_response_hours: int = 24
    support_dm_response_hours: int = 4
    daily_dm_cap_per_rep: int = Field(
        default=25, ge=0, description="DMs a rep may send or have drafted in any 24 hours; 0 turns the cap off."
    )
    recipient_cooldown_days: int = Field(
        default=7, ge=0, description="Days before an unanswered person may get a DM from another watch; 0 = off."
    )
    # ---------------------------------------------------------------- the outreach policy (outreach.policy)
    outreach_paused: bool = Field(
        default=False, description="Refuse every draft, approval and send (an emergency stop for the workspace)."
    )
    marketing_requires_consent: bool = Field(
        default=False,
        description="Marketing DMs and e-mails only to people with a live consent record (consent, contract or "
        "contact-initiated).",
    )
    platform_dm_rules: bool = Field(
        default=True,
        description="Follow each platform's DM terms (X first contact, open DMs, no DMs on Hacker News, LinkedIn "
        "by hand only); off only for a sandbox that never reaches real people.",
    )
    meta_message_window_hours: int = Field(
        default=24, ge=1, le=24, description="Meta platforms: a DM only this long after the person last wrote."
    )
    one_first_dm_until_answered: bool = Field(
        default=True,
        description="A person who has not answered one cold DM gets no cold DM from another watch, even after the "
        "cooldown.",
    )
    quiet_hours: str = Field(
        default="",
        pattern=r"^$|^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$",
        description="No sends between these local times of the recipient, e.g. 21:00-08:00; empty = off.",
    )
    workspace_time_zone: str = Field(
        default="UTC", description="IANA zone for quiet hours when the recipient's own zone is not known."
    )
    product_name: str = Field(
        default="", max_length=80, description="What drafts say you work on; empty: 'a tool in this space'."
    )
    company_name: str = Field(default="", max_length=80, description="Your company in drafts; empty: not named.")
    webhook_secret: SecretStr = Field(
        default=SecretStr(""), description="Shared secret for the inbound mention webhook (HMAC-SHA256)."
    )
    idempotency_ttl_hours: int = Field(default=24, ge=1, description="How long an Idempotency-Key is remembered.")
    webhook_retry_hours: float = Field(default=24, description="Outbound webhooks are retried for this long.")
    webhook_backoff_seconds: float = Field(default=10, description="First retry delay; doubles on each failure.")
    webhook_backoff_max_seconds: float = Field(default=3600, description="Longest delay between two retries.")
    webhook_timeout_seconds: float = 10.0
    webhook_allow_private_targets: bool = Field(
        default=False, description="Allow webhook URLs on loopback/private networks (off: SSRF protection)."
    )
    webhook_dispatch_interval: float = Field(default=1.0, description="Seconds between outbox polls in a worker.")
    webhook_log_retention_days: float = Field(
        default=30,
        gt=0,
        description="Finished webhook deliveries (and their events) are kept this long, at least "
        "the retry window plus a day.",
    )

    @field_validator("database_url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        if value and not value.startswith(("sqlite", "postgresql", "postgres://")):
            raise ValueError("CRM_DATABASE_URL must be a sqlite:// or postgresql:// URL")
        return value

    @field_validator("workspace_time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError("CRM_WORKSPACE_TIME_ZONE must be an IANA time zone such as Europe/Berlin") from exc
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str) -> str:
        if value and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("CRM_REDIS_URL must be a redis://, rediss:// or unix:// URL")
        return value

    @property
    def resolved_database_url(self) -> str:
        """The async SQLAlchemy URL actually used (drivers filled in, default file placed)."""
        url = self.database_url or f"sqlite:///{(self.data_dir / 'warmline.db').as_posix()}"
        if url.startswith("postgres://"):
            url = "postgresql://" + url[len("postgres://") :]
        if url.startswith("postgresql://"):
            url = "postgresql+asyncpg://" + url[len("postgresql://") :]
        elif url.startswith("sqlite://"):
            url = "sqlite+aiosqlite://" + url[len("sqlite://") :]
        return url

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    @property
    def resolved_model_dir(self) -> Path:
        return self.model_dir if str(self.model_dir) not in ("", ".") else self.data_dir / "models"

    @property
    def base_url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}"

    # ------------------------------------------------------------------ listeners: platform connectors and polling
    hn_base_url: str = Field(default="https://hn.algolia.com", description="Hacker News Algolia search API.")
    reddit_base_url: str = Field(default="https://oauth.reddit.com", description="Reddit OAuth API.")
    reddit_auth_url: str = Field(default="https://www.reddit.com", description="Where Reddit issues app tokens.")
    reddit_client_id: str = ""
    reddit_client_secret: SecretStr = SecretStr("")
    reddit_user_agent: str = Field(
        default="server:warmline:0.1.0 (self-hosted CRM)",
        description="Reddit throttles generic user agents; name your deployment and contact.",
    )
    reddit_subreddits: list[str] = Field(default_factory=list, description="Subreddits whose new posts are read too.")
    x_base_url: str = "https://api.x.com"
    x_bearer_token: SecretStr = SecretStr("")
    mastodon_base_url: str = Field(
        default="https://mastodon.social", description="Instance whose tag timelines are read."
    )
    mastodon_token: SecretStr = SecretStr("")
    mastodon_streaming_url: str = Field(
        default="", description="Streaming API base when the instance serves it elsewhere; empty = mastodon_base_url."
    )
    mastodon_backfill_statuses: int = Field(
        default=200, ge=0, description="How far back a watch's first read of a tag timeline goes (max_id paging)."
    )
    mastodon_stream_seconds: float = Field(
        default=0, ge=0, description="After catching up, a poll listens to each tag's stream this long (0: off)."
    )
    bluesky_base_url: str = Field(default="https://public.api.bsky.app", description="XRPC host for searchPosts.")
    bluesky_handle: str = ""
    bluesky_app_password: SecretStr = SecretStr("")
    bluesky_firehose: bool = Field(default=False, description="Read Bluesky from Jetstream instead of searchPosts.")
    jetstream_url: str = "wss://jetstream2.us-east.bsky.network/subscribe"
    jetstream_rewind_seconds: float = Field(default=5.0, ge=0, description="Cursor rewind on (re)connect.")
    jetstream_idle_seconds: float = Field(default=3.0, gt=0, description="A firehose read ends after this long idle.")
    jetstream_max_events: int = Field(default=20_000, ge=1, description="Events read per firehose poll at most.")
    rss_feeds: list[str] = Field(default_factory=list, description="RSS/Atom feed URLs read for every RSS watch.")
    rss_max_bytes: int = Field(default=5 * 1024 * 1024, ge=1024, description="Largest feed body accepted.")
    listener_polling: bool = Field(default=True, description="Run the per-minute poll scheduler in workers.")
    listener_max_pages: int = Field(default=10, ge=1, description="Pages per source and poll; the rest next poll.")
    listener_max_retries: int = Field(default=4, ge=0, description="Retries of a rate-limited or failing call.")
    listener_max_wait_seconds: float = Field(
        default=900, ge=0, description="Longest rate-limit wait slept through; longer waits end the poll."
    )


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment on first use."""
    return Settings()
