"""The one settings object, grouped by concern and read once per process."""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
Environment = Literal["local", "test", "staging", "production"]
POSTGRES_SCHEMES = ("postgresql", "postgres", "postgresql+asyncpg", "postgresql+psycopg")
PLACEHOLDER_SECRETS = {"", "changeme", "secret", "change-me", "dev", "development"}


class DatabaseSettings(BaseSettings):
    """PostgreSQL connection: `DATABASE_URL` (any postgres:// form; asyncpg is implied)."""

    model_config = SettingsConfigDict(env_prefix="DATABASE_", extra="ignore")

    url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/toolbox"
    pool_size: int = 10
    max_overflow: int = 10
    connect_timeout_s: float = 3.0
    statement_timeout_ms: int = 0

    @field_validator("url")
    @classmethod
    def _postgresql_only(cls, value: str) -> str:
        scheme = value.split("://", 1)[0] if "://" in value else ""
        if scheme not in POSTGRES_SCHEMES:
            # Never echo the URL: it may carry a password.
            shown = f"a {scheme}:// URL" if scheme else "no URL scheme"
            raise ValueError(f"DATABASE_URL must be a PostgreSQL URL (postgresql://user@host:port/db); it has {shown}")
        return value

    @property
    def async_url(self) -> str:
        """The URL with the asyncpg driver, whatever form the user gave."""
        url = self.url
        for prefix in ("postgresql+asyncpg://", "postgresql+psycopg://", "postgresql://", "postgres://"):
            if url.startswith(prefix):
                return "postgresql+asyncpg://" + url[len(prefix):]
        return url

    @property
    def dsn(self) -> str:
        """The URL in libpq form, for asyncpg and command-line tools."""
        return "postgresql://" + self.async_url.split("://", 1)[1]


class RedisSettings(BaseSettings):
    """Broker and result backend: `REDIS_URL`."""

    model_config = SettingsConfigDict(env_prefix="REDIS_", extra="ignore")

    url: str = "redis://127.0.0.1:6379/0"
    socket_timeout_s: float = 2.0
    # Hard deadline of one publish from the API, retries included: execute answers 503 within it.
    publish_timeout_s: float = 3.0


class CelerySettings(BaseSettings):
    """Worker behaviour: `CELERY_*`."""

    model_config = SettingsConfigDict(env_prefix="CELERY_", extra="ignore")

    default_queue: str = "celery"
    task_time_limit_s: int = 3600
    task_soft_time_limit_s: int = 3300
    result_expires_s: int = 7 * 24 * 3600
    # Kept above the longest task time limit so that an acks_late task is never redelivered
    # while it still runs; raised automatically when a task declares a longer limit.
    visibility_margin_s: int = 600
    # A worker main process refreshes a Redis key with this TTL; once it has expired, another
    # worker sends the runs it held back to their queues (background/processors/worker_liveness.py).
    worker_liveness_ttl_s: int = Field(default=30, ge=2, le=3600)
    worker_concurrency: int = 2


class AuthSettings(BaseSettings):
    """JWT bearer auth: `AUTH_*`."""

    model_config = SettingsConfigDict(env_prefix="AUTH_", extra="ignore")

    enabled: bool = True
    jwt_secret: str = ""
    jwt_algorithm: str = "HS256"
    token_ttl_s: int = 24 * 3600
    issuer: str = "toolbox"


class ScheduleSettings(BaseSettings):
    """Beat schedules: `SCHEDULE_*`; per-environment overrides live in config/schedule_overrides.py."""

    model_config = SettingsConfigDict(env_prefix="SCHEDULE_", extra="ignore")

    timezone: str = "America/Lima"
    enabled: bool = True
    # JSON {"<task name>": "<cron>" | null}, applied over config/schedule_overrides.py's map for the environment.
    overrides: dict[str, str | None] = Field(default_factory=dict)
    # Beat wakes at least this often; a dead Beat's leader lock expires after 5x this.
    beat_max_interval_s: float = Field(default=5.0, gt=0, le=300)
    # A tick sent later than this after its due time was missed while no Beat ran (the task's
    # catch_up policy applies); unset: 6 x beat_max_interval_s, above a dead leader's lock expiry.
    missed_grace_s: float | None = Field(default=None, gt=0)
    # maintenance.purge_runs deletes registry rows submitted longer ago than this.
    run_retention_days: int = Field(default=30, ge=1)


NotifyEvent = Literal["failure", "recovery", "schedule_failed"]
ALL_EVENTS: list[NotifyEvent] = ["failure", "recovery", "schedule_failed"]


class Webhook(BaseModel):
    """One receiver of NOTIFY_WEBHOOKS: which events of which tasks (patterns with `*`) go to `url`."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(pattern=r"^https?://\S+$")
    events: list[NotifyEvent] = Field(default_factory=lambda: list(ALL_EVENTS), min_length=1)
    tasks: list[str] = Field(default_factory=lambda: ["*"], min_length=1)


class NotifySettings(BaseSettings):
    """Failure notifications: `NOTIFY_WEBHOOKS` (JSON list of Webhook) signed with `NOTIFY_SECRET`."""

    model_config = SettingsConfigDict(env_prefix="NOTIFY_", extra="ignore")

    webhooks: list[Webhook] = Field(default_factory=list)
    secret: str = ""
    # Links in the notifications point here: <public_url>/#/runs/<id> (the console's run page).
    public_url: str = "http://127.0.0.1:8000"
    queue: str = "notifications"
    timeout_s: float = Field(default=5.0, gt=0, le=60)
    max_attempts: int = Field(default=5, ge=1, le=20)
    # Attempt n+1 waits backoff_s * 2**(n-1) seconds after attempt n fails (at most 1 hour).
    backoff_s: float = Field(default=10.0, ge=0, le=3600)


class Settings(BaseSettings):
    """Everything Toolbox reads from the environment, in one object."""

    model_config = SettingsConfigDict(extra="ignore")

    environment: Environment = "local"
    var_dir: Path = Field(default=PROJECT_ROOT / "var")
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    redis: RedisSettings = Field(default_factory=RedisSettings)
    celery: CelerySettings = Field(default_factory=CelerySettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    schedules: ScheduleSettings = Field(default_factory=ScheduleSettings)
    notify: NotifySettings = Field(default_factory=NotifySettings)
    max_body_bytes: int = 1024 * 1024
    # POST /tasks/runs/retry|revoke act on at most this many runs per call (`BULK_MAX_RUNS`).
    bulk_max_runs: int = Field(default=100, ge=1, le=10_000)
    # Structured log lines of API and workers: `logfmt` (key=value) or `json`.
    log_format: Literal["logfmt", "json"] = "logfmt"
    # `toolbox up`'s files in var/log rotate at this size, keeping this many older files.
    log_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    log_backups: int = Field(default=5, ge=1, le=100)

    @model_validator(mode="after")
    def _notify_secret_is_real(self) -> Settings:
        # Unsigned webhooks are for local tries only: a receiver could not tell them from forgeries.
        secret = self.notify.secret.strip().lower()
        if self.notify.webhooks and secret in PLACEHOLDER_SECRETS and self.environment not in ("local", "test"):
            raise ValueError(f"NOTIFY_SECRET must be set to a real secret when NOTIFY_WEBHOOKS is set "
                             f"(ENVIRONMENT={self.environment})")
        return self

    @model_validator(mode="after")
    def _secret_is_real(self) -> Settings:
        secret = self.auth.jwt_secret
        if secret.strip().lower() not in PLACEHOLDER_SECRETS:
            return self
        if self.environment in ("local", "test"):
            # Local runs get a random secret kept under ./var, so `toolbox up` and
            # `toolbox token` agree without anyone choosing a password.
            self.auth.jwt_secret = _local_secret(self.var_dir)
            return self
        raise ValueError(
            "AUTH_JWT_SECRET must be set to a real secret outside local runs "
            f"(ENVIRONMENT={self.environment})"
        )


def _local_secret(var_dir: Path) -> str:
    path = var_dir / "jwt_secret"
    if path.exists():
        return path.read_text().strip()
    var_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    path.write_text(value)
    path.chmod(0o600)
    return value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment once."""
    return Settings()
