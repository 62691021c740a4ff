"""Hosts, caches and real secrets (SPEC §14).

Attacks: a forged Host header (cache poisoning, password-reset style link hijack); a
shared cache keeping a token response; hammering the anonymous /auth endpoints; a
production deploy with SECRET_KEY = 32 × "a" or a 3-character METRICS_TOKEN.
"""

from __future__ import annotations

import logging

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.infra.db import Database
from app.infra.settings import ConfigError, load_settings
from app.main import create_app
from tests.api.domain_helpers import assert_problem
from tests.auth_helpers import client_for
from tests.conftest import test_settings as settings_for
from tests.conftest import url_of
from tests.factories import DEFAULT_PASSWORD, make_user

GOOD_KEY = "Zq8-v3Lw_0pXe7Rk2NfTs9YbHu4MjC1d"  # 32 characters, 30 different


def app_with(engine: AsyncEngine, database: Database, **overrides: object) -> FastAPI:
    return create_app(settings_for(url_of(engine), **overrides), database)


@pytest.mark.parametrize(
    ("host", "status"),
    [
        ("backoffice.example.com", 200),
        ("BACKOFFICE.example.com:8443", 200),
        ("eu.internal.example.org", 200),
        ("evil.example", 400),
        ("backoffice.example.com.evil.example", 400),
        ("internal.example.org", 400),  # the wildcard covers subdomains only
        ("", 400),
    ],
)
async def test_a_host_outside_allowed_hosts_is_refused(
    engine: AsyncEngine, database: Database, host: str, status: int
) -> None:
    app = app_with(engine, database, allowed_hosts="backoffice.example.com, *.internal.example.org")
    async with client_for(app) as client:
        for path in ("/healthz", "/admin/login", "/api/v1/me"):
            response = await client.get(path, headers={"Host": host})
            if status == 400:
                assert_problem(response, 400)
                assert "evil" not in response.text
            else:
                assert response.status_code != 400, (path, response.text)


async def test_token_endpoints_are_never_cached(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session)
    issued = await client.post(
        "/api/v1/auth/token", data={"username": user.email, "password": DEFAULT_PASSWORD}
    )
    refused = await client.post(
        "/api/v1/auth/token", data={"username": user.email, "password": "wrong-password-9"}
    )
    refreshed = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": issued.json()["refresh_token"]}
    )

    for response in (issued, refused, refreshed):
        assert response.headers["cache-control"] == "no-store", response.request.url


@pytest.mark.usefixtures("steady_rate_window")
async def test_anonymous_auth_endpoints_are_rate_limited_per_address(
    engine: AsyncEngine, database: Database
) -> None:
    app = app_with(engine, database, rate_limit_login="3/hour")
    async with client_for(app) as client:
        answers = [
            await client.post(f"/api/v1/auth/{path}", json={"refresh_token": "x" * 40})
            for path in ("refresh", "logout", "refresh", "logout")
        ]

    assert [a.status_code for a in answers[:3]] == [401, 204, 401]
    assert_problem(answers[3], 429)
    assert "retry-after" in answers[3].headers


@pytest.mark.parametrize(
    "secret_key",
    ["a" * 32, "ab" * 32, "0123456789abcde" * 4, "short-but-varied-key-0123"],
)
def test_production_refuses_a_weak_secret_key(
    monkeypatch: pytest.MonkeyPatch, secret_key: str
) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("SECRET_KEY", secret_key)

    with pytest.raises(ConfigError) as refused:
        load_settings()

    assert "SECRET_KEY" in str(refused.value) and secret_key not in str(refused.value)


def test_production_accepts_a_real_secret_key_and_warns_about_any_host(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("SECRET_KEY", GOOD_KEY)
    caplog.set_level(logging.WARNING, logger="app.infra.settings")

    settings = load_settings()

    assert settings.secret_key == GOOD_KEY
    assert any("ALLOWED_HOSTS" in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize("token", ["abc", "x" * 31])
def test_a_short_metrics_token_is_refused(monkeypatch: pytest.MonkeyPatch, token: str) -> None:
    monkeypatch.setenv("METRICS_TOKEN", token)

    with pytest.raises(ConfigError) as refused:
        load_settings()

    assert "METRICS_TOKEN" in str(refused.value) and token not in str(refused.value)


@pytest.mark.parametrize("hosts", ["", " , ", "evil/path", "*.*.example.com", "a b"])
def test_a_malformed_allowed_hosts_is_refused(monkeypatch: pytest.MonkeyPatch, hosts: str) -> None:
    monkeypatch.setenv("ALLOWED_HOSTS", hosts)

    with pytest.raises(ConfigError) as refused:
        load_settings()

    assert "ALLOWED_HOSTS" in str(refused.value)
