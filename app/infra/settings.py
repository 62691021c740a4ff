"""Configuration from the environment (SPEC §2): one pydantic-settings class, cached."""

from __future__ import annotations

import logging
import os
import secrets
import zoneinfo
from functools import lru_cache
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.exc import ArgumentError

from app.infra.db_url import normalize_database_url
from app.infra.ratelimit import parse_rate

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./backoffice.db"
MIN_SECRET_KEY_LENGTH = 32
# 32 × "a" is 32 characters and no secret (SPEC §14).
MIN_SECRET_KEY_DISTINCT = 16
MIN_METRICS_TOKEN_LENGTH = 32
# The schemes the limiter's storage (limits) and coredis both accept for REDIS_URL.
REDIS_SCHEMES = ("redis", "rediss")

logger = logging.getLogger(__name__)


class ConfigError(Exception):
    """Configuration that must stop start-up; its message is one line for the operator."""


class Settings(BaseSettings):
    """Every setting of SPEC §2; names are the environment variables, case-insensitive."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", env_file_encoding="utf-8")

    environment: Literal["development", "test", "production"] = "development"
    database_url: str = DEFAULT_DATABASE_URL
    secret_key: str = ""
    redis_url: str | None = None
    port: int = Field(default=8000, ge=1, le=65535)
    web_concurrency: int = Field(default=1, ge=1, le=64)
    log_level: str = "INFO"
    log_format: Literal["json", "console"] | None = None
    db_pool_size: int = Field(default=5, ge=1, le=100)
    db_max_overflow: int = Field(default=5, ge=0, le=100)
    # The database plan's connection limit: `serve` refuses a pool × workers above it.
    db_connection_limit: int = Field(default=20, ge=1, le=100_000)
    # Upper bounds catch a unit mistake (seconds typed for minutes), not a policy.
    session_idle_minutes: int = Field(default=120, ge=1, le=7 * 24 * 60)
    session_max_hours: int = Field(default=12, ge=1, le=31 * 24)
    access_token_minutes: int = Field(default=15, ge=1, le=24 * 60)
    refresh_token_days: int = Field(default=14, ge=1, le=366)
    rate_limit_api: str = "600/minute"
    rate_limit_login: str = "10/minute"
    forwarded_allow_ips: str = "127.0.0.1"
    webhooks_allow_private: bool = False
    metrics_token: str | None = None
    webhook_retry_base_seconds: float = Field(default=10, gt=0, le=24 * 3600)
    # Comma-separated Host names served (`*.example.com` for subdomains); `*`: any.
    allowed_hosts: str = "*"
    # Heroku sets DYNO on every dyno; used only to refuse an ephemeral SQLite file.
    dyno: str | None = None
    # SPEC §2 and §8; checked at start-up, not read by anything yet (the admin shows UTC).
    admin_timezone: str = "UTC"

    @field_validator("log_level")
    @classmethod
    def _known_log_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
        return level

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, value: str) -> str:
        # Checked here so a typo or a parameter the driver cannot take stops start-up with
        # one line, not a traceback from the engine; the rule lives in app.infra.db_url.
        try:
            normalize_database_url(value)
        except ArgumentError:
            # SQLAlchemy's message would not help; never echo the URL (it holds a password).
            raise ValueError("not a database URL (e.g. postgres://user:pw@host/db)") from None
        return value

    @field_validator("metrics_token")
    @classmethod
    def _long_metrics_token(cls, value: str | None) -> str | None:
        # Every environment: a short token guards /metrics no better in development.
        if value is not None and len(value) < MIN_METRICS_TOKEN_LENGTH:
            raise ValueError(
                f"METRICS_TOKEN must have at least {MIN_METRICS_TOKEN_LENGTH} characters"
            )
        if value is not None and any(c.isspace() for c in value):
            # A bearer token is one header word: a scraper could never present this one.
            raise ValueError("METRICS_TOKEN must not contain spaces")
        return value

    @field_validator("rate_limit_api", "rate_limit_login")
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        parse_rate(value)  # the limiter's own parser: what passes here works per request
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        # Never echo the URL: it may carry a password.
        try:
            parts = urlsplit(value.strip())
            parts.port  # noqa: B018 -- raises ValueError on a port that is not a number
        except ValueError:
            raise ValueError("not a Redis URL (e.g. redis://host:6379/0)") from None
        if parts.scheme not in REDIS_SCHEMES:
            raise ValueError("must start with redis:// or rediss:// (e.g. redis://host:6379/0)")
        if not parts.hostname:
            raise ValueError("has no host (e.g. redis://host:6379/0)")
        database = parts.path.strip("/")
        if database and not database.isdigit():
            raise ValueError("database number after the host must be a number (e.g. /0)")
        return value.strip()

    @field_validator("admin_timezone")
    @classmethod
    def _known_time_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"{value!r} is not a time zone name (e.g. UTC, Europe/Paris)"
            ) from None
        return value

    @field_validator("allowed_hosts")
    @classmethod
    def _host_patterns(cls, value: str) -> str:
        patterns = [part.strip().lower() for part in value.split(",") if part.strip()]
        if not patterns:
            raise ValueError("ALLOWED_HOSTS needs at least one host name (or *)")
        for pattern in patterns:
            bare = pattern[2:] if pattern.startswith("*.") else pattern
            if pattern != "*" and (not bare or "*" in bare or "/" in bare or " " in bare):
                raise ValueError(f"ALLOWED_HOSTS entry {pattern!r} is not a host name pattern")
        return ",".join(patterns)

    @field_validator("redis_url", "metrics_token", "dyno", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @model_validator(mode="after")
    def _guard_production(self) -> Settings:
        if self.dyno and "database_url" not in self.model_fields_set:
            raise ConfigError(
                "DATABASE_URL is not set on a Heroku dyno; refusing to write SQLite to an "
                "ephemeral disk (attach Heroku Postgres or set DATABASE_URL)"
            )
        if self.environment == "production":
            if (
                len(self.secret_key) < MIN_SECRET_KEY_LENGTH
                or len(set(self.secret_key)) < MIN_SECRET_KEY_DISTINCT
            ):
                raise ConfigError(
                    f"SECRET_KEY must be set to at least {MIN_SECRET_KEY_LENGTH} characters, "
                    f"{MIN_SECRET_KEY_DISTINCT} of them different, in production (e.g. "
                    "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`)"
                )
            if self.allowed_hosts == "*":
                logger.warning(
                    "ALLOWED_HOSTS is * in production: any Host header is accepted; "
                    "set it to the names this service is reached by"
                )
        elif not self.secret_key:
            # A per-process key: sessions and tokens do not survive a restart, which is
            # fine for development and tests and loudly wrong anywhere else.
            self.secret_key = secrets.token_urlsafe(48)
            logger.warning("SECRET_KEY is not set; using a random key for this process only")
        return self

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    @property
    def effective_log_format(self) -> str:
        if self.log_format:
            return self.log_format
        return "json" if self.is_production else "console"

    def connection_budget(self, workers: int) -> int:
        """Connections `workers` web processes may open: (pool + overflow) × workers."""
        return (self.db_pool_size + self.db_max_overflow) * workers

    @property
    def allowed_host_patterns(self) -> list[str]:
        return self.allowed_hosts.split(",")

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment, turning validation errors into one-line ConfigErrors."""
    from pydantic import ValidationError

    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]).upper() or "settings"
        cause = first.get("ctx", {}).get("error")
        if isinstance(cause, ConfigError):
            raise cause from None
        # pydantic's messages never hold the input (a secret, a password in a URL).
        message = first["msg"].removeprefix("Value error, ")
        raise ConfigError(f"invalid setting {field}: {message}") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (cached; tests build their own with load_settings)."""
    return load_settings()


def running_under_pytest() -> bool:
    return "PYTEST_CURRENT_TEST" in os.environ
