"""Server-side request forgery guards: unsafe endpoint URLs are refused when saved, names that
resolve to private addresses are refused at delivery, and redirects are never followed."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.infra.db import Database
from app.main import create_app
from app.models import WebhookEndpoint
from tests.api.domain_helpers import assert_problem, error_fields, token_caller
from tests.conftest import test_settings as settings_for
from tests.conftest import url_of
from tests.webhooks.conftest import CommittedDatabase
from tests.webhooks.helpers import (
    add_endpoint,
    emit_committed,
    only_delivery,
    run_once,
    worker_settings,
)
from tests.webhooks.receivers import Behaviour, running_receiver

WEBHOOKS = "/api/v1/webhooks"
UNSAFE_URLS = [
    "http://127.0.0.1/hook",
    "http://127.1.2.3:8080/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://10.0.0.1/hook",
    "http://192.168.1.20/hook",
    "http://[::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://localhost:8080/hook",
    "http://api.localhost/hook",
    "http://0.0.0.0/hook",
]


async def _endpoint_count(session: AsyncSession) -> int:
    statement = select(func.count()).select_from(WebhookEndpoint)
    return int((await session.execute(statement)).scalar_one())


@pytest.mark.parametrize("url", UNSAFE_URLS)
async def test_creating_an_endpoint_on_a_private_address_is_refused(
    client: httpx.AsyncClient, session: AsyncSession, url: str
) -> None:
    _, headers = await token_caller(session, "admin")
    response = await client.post(
        WEBHOOKS, json={"url": url, "events": ["order.placed"]}, headers=headers
    )
    assert error_fields(assert_problem(response, 422)) == {"url"}
    assert await _endpoint_count(session) == 0


async def test_a_public_http_endpoint_is_accepted_outside_production(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    _, headers = await token_caller(session, "admin")
    response = await client.post(
        WEBHOOKS,
        json={"url": "http://hooks.example.com/in", "events": ["order.paid"]},
        headers=headers,
    )
    assert response.status_code == 201, response.text


async def test_moving_an_endpoint_to_a_private_address_is_refused(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    _, headers = await token_caller(session, "admin")
    created = await client.post(
        WEBHOOKS,
        json={"url": "https://hooks.example.com/in", "events": ["order.paid"]},
        headers=headers,
    )
    assert created.status_code == 201, created.text
    response = await client.patch(
        f"{WEBHOOKS}/{created.json()['id']}",
        json={"url": "http://169.254.169.254/"},
        headers={**headers, "If-Match": created.headers["etag"]},
    )
    assert error_fields(assert_problem(response, 422)) == {"url"}


@pytest.fixture
def production_client(engine: AsyncEngine, database: Database) -> httpx.AsyncClient:
    settings = settings_for(url_of(engine), environment="production")
    transport = httpx.ASGITransport(app=create_app(settings, database), raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="https://testserver")


@pytest.mark.parametrize(
    ("url", "status"),
    [("http://hooks.example.com/in", 422), ("https://hooks.example.com/in", 201)],
)
async def test_production_accepts_only_https_endpoints(
    production_client: httpx.AsyncClient, session: AsyncSession, url: str, status: int
) -> None:
    _, headers = await token_caller(session, "admin")
    async with production_client as client:
        response = await client.post(
            WEBHOOKS, json={"url": url, "events": ["order.placed"]}, headers=headers
        )
    assert response.status_code == status, response.text
    if status == 422:
        assert "https" in response.json()["detail"]


def _resolve_everything_to(port: int) -> Any:
    """A getaddrinfo for the event loop that answers 127.0.0.1 for every name."""

    async def getaddrinfo(host: Any, _port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    return getaddrinfo


@pytest.mark.parametrize("allow_private", [False, True])
async def test_a_name_resolving_to_loopback_is_refused_at_delivery(
    committed: CommittedDatabase, monkeypatch: pytest.MonkeyPatch, allow_private: bool
) -> None:
    with running_receiver() as receiver:
        port = int(receiver.url.split(":")[2].split("/")[0])
        url = f"http://hooks.internal.example:{port}/hook"
        settings = settings_for(committed.url, webhooks_allow_private=allow_private)
        _, secret = await add_endpoint(committed.database, settings, url)
        receiver.set_secret(secret)
        await emit_committed(committed.database, "customer.created", {"customer": {"id": 1}})
        # The name "resolves" to the receiver on loopback, for the guard and httpx alike.
        monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", _resolve_everything_to(port))
        assert await run_once(committed.database, settings) == 1
        monkeypatch.undo()
    delivery = await only_delivery(committed.database)
    if allow_private:  # the control: the same setup reaches the receiver when allowed
        assert delivery.status == "succeeded"
        assert len(receiver.events) == 1
        return
    assert receiver.behaviour.requests == []
    assert delivery.status == "pending"
    assert delivery.last_status_code is None
    assert delivery.last_error.startswith("refused: hooks.internal.example resolves to"), (
        delivery.last_error
    )
    assert delivery.attempts[0]["error"] == delivery.last_error


async def test_a_redirect_to_loopback_is_not_followed(committed: CommittedDatabase) -> None:
    settings = worker_settings(committed.url)
    with (
        running_receiver() as target,
        running_receiver(Behaviour(redirect_to=target.url)) as redirector,
    ):
        await add_endpoint(committed.database, settings, redirector.url)
        await emit_committed(committed.database, "customer.created", {"customer": {"id": 1}})
        assert await run_once(committed.database, settings) == 1
    assert redirector.behaviour.statuses() == [302]
    assert target.behaviour.requests == []
    delivery = await only_delivery(committed.database)
    assert (delivery.status, delivery.last_status_code) == ("pending", 302)
    assert delivery.attempts[0]["status_code"] == 302
