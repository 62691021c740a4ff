"""Configuration from the environment (SPEC §2, §10): defaults, database URLs, refusals."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from app.infra.db import create_engine, normalize_database_url
from app.infra.settings import DEFAULT_DATABASE_URL, ConfigError, Settings, load_settings

HEROKU_URL = "postgres://user:pw@host:5432/db?sslmode=require"
STRONG_KEY = "0123456789abcdefghijklmnopqrstuv"  # 32 characters, all different


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No setting from the real environment or a developer's `.env` leaks into a test."""
    monkeypatch.chdir(tmp_path)
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
        monkeypatch.delenv(name, raising=False)


def config_error(**environment: str) -> ConfigError:
    """The ConfigError that loading settings under `environment` raises."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in environment.items():
            patch.setenv(name, value)
        with pytest.raises(ConfigError) as raised:
            load_settings()
    return raised.value


def assert_one_line(error: ConfigError) -> None:
    message = str(error)
    assert message
    assert "\n" not in message


def test_defaults_are_those_of_the_spec() -> None:
    settings = load_settings()

    assert settings.environment == "development"
    assert settings.database_url == DEFAULT_DATABASE_URL == "sqlite+aiosqlite:///./backoffice.db"
    assert settings.redis_url is None
    assert settings.port == 8000
    assert settings.web_concurrency == 1
    assert settings.log_level == "INFO"
    assert settings.effective_log_format == "console"
    assert settings.db_pool_size == 5
    assert settings.db_max_overflow == 5
    assert settings.session_idle_minutes == 120
    assert settings.session_max_hours == 12
    assert settings.access_token_minutes == 15
    assert settings.refresh_token_days == 14
    assert settings.rate_limit_api == "600/minute"
    assert settings.rate_limit_login == "10/minute"
    assert settings.forwarded_allow_ips == "127.0.0.1"
    assert settings.webhooks_allow_private is False
    assert settings.metrics_token is None
    assert settings.webhook_retry_base_seconds == 10


def test_environment_variables_override_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "5001")
    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    monkeypatch.setenv("LOG_LEVEL", "debug")
    monkeypatch.setenv("WEBHOOKS_ALLOW_PRIVATE", "true")
    monkeypatch.setenv("REDIS_URL", "")

    settings = load_settings()

    assert (settings.port, settings.web_concurrency) == (5001, 3)
    assert settings.log_level == "DEBUG"
    assert settings.webhooks_allow_private is True
    assert settings.redis_url is None


def test_dotenv_in_the_working_directory_is_read(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / ".env").write_text("PORT=9001\nLOG_LEVEL=WARNING\n", encoding="utf-8")
    monkeypatch.setenv("LOG_LEVEL", "ERROR")

    settings = load_settings()

    assert settings.port == 9001
    assert settings.log_level == "ERROR"  # the real environment wins over .env


def test_production_logs_json_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("SECRET_KEY", STRONG_KEY)

    assert load_settings().effective_log_format == "json"


# --- database URLs -------------------------------------------------------------------------


async def test_heroku_database_url_works_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", HEROKU_URL)

    settings = load_settings()
    url, connect_args = normalize_database_url(settings.database_url)

    assert settings.database_url == HEROKU_URL
    assert url.drivername == "postgresql+asyncpg"
    assert "sslmode" not in url.query
    assert connect_args["ssl"] == "require"
    assert (url.username, url.password, url.host, url.port, url.database) == (
        "user",
        "pw",
        "host",
        5432,
        "db",
    )
    engine: AsyncEngine = create_engine(settings)  # builds without connecting
    try:
        assert engine.url.drivername == "postgresql+asyncpg"
    finally:
        await engine.dispose()


def test_postgresql_url_becomes_asyncpg() -> None:
    url, connect_args = normalize_database_url("postgresql://u@db.internal/app")

    assert url.drivername == "postgresql+asyncpg"
    assert "ssl" not in connect_args


@pytest.mark.parametrize("raw", ["sqlite:///./local.db", "sqlite+pysqlite:///./local.db"])
def test_sqlite_url_becomes_aiosqlite(raw: str) -> None:
    url, _ = normalize_database_url(raw)

    assert url.drivername == "sqlite+aiosqlite"
    assert url.database == "./local.db"


@pytest.mark.parametrize(
    "raw", ["mysql://u:pw@host/db", "oracle://u@host/db", "postgres://h/db?sslmode=bogus"]
)
def test_unsupported_database_url_is_an_error(raw: str) -> None:
    with pytest.raises(ValueError):
        normalize_database_url(raw)


@pytest.mark.parametrize("raw", ["mysql://u:secretpw@host/db", "not a url"])
def test_unsupported_database_url_stops_start_up(raw: str) -> None:
    error = config_error(DATABASE_URL=raw)

    assert_one_line(error)
    assert "DATABASE_URL" in str(error)
    assert "secretpw" not in str(error)


# --- secrets and refusals ------------------------------------------------------------------


@pytest.mark.parametrize("secret_key", [None, "", "s" * 31])
def test_production_refuses_a_missing_or_short_secret_key(secret_key: str | None) -> None:
    environment = {"ENVIRONMENT": "production"}
    if secret_key is not None:
        environment["SECRET_KEY"] = secret_key

    error = config_error(**environment)

    assert_one_line(error)
    assert "SECRET_KEY" in str(error)
    if secret_key:
        assert secret_key not in str(error)


def test_production_accepts_a_32_character_secret_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("SECRET_KEY", STRONG_KEY)

    settings = load_settings()

    assert settings.is_production
    assert settings.secret_key == STRONG_KEY


def test_development_without_secret_key_generates_one_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="app.infra.settings")

    first = load_settings()
    second = load_settings()

    assert len(first.secret_key) >= 32
    assert first.secret_key != second.secret_key
    warnings = [r for r in caplog.records if r.name == "app.infra.settings"]
    assert warnings
    assert all(r.levelno == logging.WARNING for r in warnings)
    assert "SECRET_KEY" in warnings[0].getMessage()


def test_development_with_secret_key_uses_it_silently(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="app.infra.settings")
    monkeypatch.setenv("SECRET_KEY", "dev-key")

    assert load_settings().secret_key == "dev-key"
    assert not [r for r in caplog.records if r.name == "app.infra.settings"]


def test_heroku_dyno_without_database_url_stops_start_up() -> None:
    error = config_error(DYNO="web.1", SECRET_KEY=STRONG_KEY)

    assert_one_line(error)
    assert "DATABASE_URL" in str(error)


def test_heroku_dyno_with_database_url_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DYNO", "web.1")
    monkeypatch.setenv("DATABASE_URL", HEROKU_URL)

    assert load_settings().database_url == HEROKU_URL


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PORT", "abc"),
        ("PORT", "70000"),
        ("LOG_LEVEL", "LOUD"),
        ("ENVIRONMENT", "staging"),
        ("WEB_CONCURRENCY", "0"),
        ("DB_POOL_SIZE", "many"),
        ("WEBHOOKS_ALLOW_PRIVATE", "perhaps"),
    ],
)
def test_bad_value_stops_start_up_naming_the_variable(variable: str, value: str) -> None:
    error = config_error(**{variable: value})

    assert_one_line(error)
    assert variable in str(error)
