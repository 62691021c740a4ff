"""Every setting checked at start-up: each refusal is one line naming the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.infra.ratelimit import parse_rate
from app.infra.settings import ConfigError, Settings, load_settings

SECRET = "pw-s3cret-do-not-print"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No setting from the real environment or a developer's `.env` leaks into a test."""
    monkeypatch.chdir(tmp_path)
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)


def refusal(monkeypatch: pytest.MonkeyPatch, **environment: str) -> str:
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as refused:
        load_settings()
    message = str(refused.value)
    assert "\n" not in message
    assert SECRET not in message
    return message


@pytest.mark.parametrize("variable", ["RATE_LIMIT_API", "RATE_LIMIT_LOGIN"])
@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("abc", "not a rate limit"),
        ("600/fortnight", "not a rate limit"),
        ("", "not a rate limit"),
        ("0/minute", "at least one request"),
        ("10/minute;100/hour", "one limit"),
    ],
)
def test_a_rate_limit_the_limiter_cannot_use_stops_start_up(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, reason: str
) -> None:
    message = refusal(monkeypatch, **{variable: value})
    assert message.startswith(f"invalid setting {variable}: ")
    assert reason in message


@pytest.mark.parametrize("value", ["100/second", "10 per 2 minutes", "5000/hour", "1/day"])
def test_rate_limits_in_the_limiters_syntax_are_accepted(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("RATE_LIMIT_API", value)
    settings = load_settings()
    assert settings.rate_limit_api == value
    assert parse_rate(value).amount >= 1  # the very parser the limiter uses per request


def test_parse_rate_is_the_limiters_parser() -> None:
    item = parse_rate("10 per 2 minutes")
    assert (item.amount, item.multiples, item.GRANULARITY.name) == (10, 2, "minute")
    with pytest.raises(ValueError):
        parse_rate("ten/minute")


@pytest.mark.parametrize("environment", ["development", "test", "production"])
def test_a_short_metrics_token_stops_start_up_everywhere(
    monkeypatch: pytest.MonkeyPatch, environment: str
) -> None:
    monkeypatch.setenv("SECRET_KEY", "0123456789abcdefghijklmnopqrstuv")
    message = refusal(monkeypatch, ENVIRONMENT=environment, METRICS_TOKEN="abc")
    assert "METRICS_TOKEN" in message and "32" in message
    assert "abc" not in message


def test_a_metrics_token_with_a_space_stops_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    message = refusal(monkeypatch, METRICS_TOKEN=f"{SECRET} {SECRET}")
    assert "METRICS_TOKEN" in message and "spaces" in message


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (f"http://:{SECRET}@cache.internal:6379/0", "redis://"),
        (f"memcached://:{SECRET}@cache.internal", "redis://"),
        (f"redis://:{SECRET}@cache.internal:port/0", "not a Redis URL"),
        ("redis:///0", "no host"),
        (f"redis://:{SECRET}@cache.internal:6379/zero", "database number"),
    ],
)
def test_a_bad_redis_url_stops_start_up_without_the_password(
    monkeypatch: pytest.MonkeyPatch, value: str, reason: str
) -> None:
    message = refusal(monkeypatch, REDIS_URL=value)
    assert message.startswith("invalid setting REDIS_URL: ")
    assert reason in message
    assert "cache.internal" not in message


@pytest.mark.parametrize("value", ["redis://127.0.0.1:6379/13", "rediss://:pw@cache:6380"])
def test_redis_urls_are_accepted(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("REDIS_URL", value)
    assert load_settings().redis_url == value


def test_admin_timezone_defaults_to_utc() -> None:
    assert load_settings().admin_timezone == "UTC"


def test_a_known_admin_timezone_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADMIN_TIMEZONE", "Europe/Paris")
    assert load_settings().admin_timezone == "Europe/Paris"


@pytest.mark.parametrize("value", ["Mars/Olympus_Mons", "../../etc/passwd", "utc+2"])
def test_an_unknown_admin_timezone_stops_start_up(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    message = refusal(monkeypatch, ADMIN_TIMEZONE=value)
    assert message.startswith("invalid setting ADMIN_TIMEZONE: ")
    assert "time zone" in message


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("ACCESS_TOKEN_MINUTES", "0"),
        ("ACCESS_TOKEN_MINUTES", "86400"),
        ("SESSION_IDLE_MINUTES", "99999999"),
        ("SESSION_MAX_HOURS", "100000"),
        ("REFRESH_TOKEN_DAYS", "3650"),
        ("WEBHOOK_RETRY_BASE_SECONDS", "0"),
        ("WEBHOOK_RETRY_BASE_SECONDS", "1e9"),
        ("DB_MAX_OVERFLOW", "-1"),
        ("DB_CONNECTION_LIMIT", "0"),
    ],
)
def test_numbers_out_of_range_stop_start_up(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    message = refusal(monkeypatch, **{variable: value})
    assert message.startswith(f"invalid setting {variable}: ")
    assert "Value error" not in message


@pytest.mark.parametrize(
    ("value", "named"),
    [
        (f"postgres://u:{SECRET}@db/app?keepalives=1", "'keepalives'"),
        (f"postgres://u:{SECRET}@db/app?channel_binding=require", "channel_binding"),
        (f"postgres://u:{SECRET}@db/app?connect_timeout=never", "connect_timeout"),
        ("sqlite:///./x.db?timeout=5", "'timeout'"),
    ],
)
def test_a_database_url_parameter_the_driver_cannot_take_stops_start_up(
    monkeypatch: pytest.MonkeyPatch, value: str, named: str
) -> None:
    message = refusal(monkeypatch, DATABASE_URL=value)
    assert message.startswith("invalid setting DATABASE_URL: ")
    assert named in message
    assert "Value error" not in message
