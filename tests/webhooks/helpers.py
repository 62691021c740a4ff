"""Helpers for the webhook tests: a stub resolver, endpoints, one worker pass, reading and
moving outbox rows."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from app.auth.principal import Principal
from app.infra.db import Database, transaction
from app.infra.settings import Settings
from app.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from app.models.base import utcnow
from app.ops.worker import Worker
from app.webhooks import service
from app.webhooks.commands import SUBSCRIBABLE, CreateWebhookEndpoint
from app.webhooks.delivery import Job, payload
from app.webhooks.outbox import emit
from tests.conftest import test_settings

ALL_EVENTS = list(SUBSCRIBABLE)
PUBLIC_ADDRESS = "93.184.215.14"  # passes the guard; no test ever connects to it


class StubResolver:
    """The event loop's getaddrinfo for a test: a name answers what its table says (and
    does not resolve when it is not there); an address answers itself, in any spelling the
    C library reads as one (`2130706433`, `0x7f.1`). No query ever leaves the machine."""

    def __init__(self, answers: Mapping[str, Sequence[str]]) -> None:
        self.answers = {name: list(addresses) for name, addresses in answers.items()}
        self.asked: list[str] = []

    def rebind(self, name: str, *addresses: str) -> None:
        """What `name` answers from now on (a DNS record changed, or was made to)."""
        self.answers[name] = list(addresses)

    async def __call__(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        host = host.decode() if isinstance(host, bytes) else str(host)
        try:
            addresses = [_numeric(host)]
        except (ValueError, OSError):
            self.asked.append(host)
            addresses = self.answers.get(host, [])
        if not addresses:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [_address_info(address, int(port or 0)) for address in addresses]


def _numeric(host: str) -> str:
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return socket.inet_ntoa(socket.inet_aton(host))  # what the C library accepts


def _address_info(address: str, port: int) -> tuple[Any, ...]:
    if ipaddress.ip_address(address).version == 6:
        return (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, port, 0, 0))
    return (socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))


def stub_dns(
    monkeypatch: pytest.MonkeyPatch, answers: Mapping[str, Sequence[str]] | None = None
) -> StubResolver:
    """Answer this test's DNS lookups (the running loop's, as the guard and httpx ask)."""
    resolver = StubResolver(answers or {})
    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", resolver)
    return resolver


def worker_settings(url: str, **overrides: Any) -> Settings:
    """Settings that let the worker reach a receiver on localhost."""
    values: dict[str, Any] = {"webhooks_allow_private": True}
    values.update(overrides)
    return test_settings(url, **values)


async def add_endpoint(
    database: Database, settings: Settings, url: str, events: Sequence[str] = ALL_EVENTS
) -> tuple[int, str]:
    """Register an endpoint (committed); returns its id and signing secret."""
    async with transaction(database.sessionmaker) as session:
        endpoint, secret = await service.create_endpoint(
            session,
            Principal.system(),
            settings,
            CreateWebhookEndpoint(url=url, events=list(events)),
        )
    return endpoint.id, secret


async def emit_committed(database: Database, event_type: str, data: dict[str, Any]) -> int:
    """Emit one event in its own committed transaction; returns the event id."""
    async with transaction(database.sessionmaker) as session:
        return await emit(session, event_type, data)


async def run_once(database: Database, settings: Settings) -> int:
    """One worker pass with its own HTTP client; returns how many deliveries it attempted."""
    async with httpx.AsyncClient(follow_redirects=False) as client:
        return await Worker(database, settings).run_once(client)


async def deliveries(database: Database) -> list[WebhookDelivery]:
    async with database.sessionmaker() as session:
        statement = select(WebhookDelivery).order_by(WebhookDelivery.id)
        return list((await session.execute(statement)).unique().scalars())


async def only_delivery(database: Database) -> WebhookDelivery:
    rows = await deliveries(database)
    assert len(rows) == 1, [(d.id, d.event.type, d.endpoint_id) for d in rows]
    return rows[0]


async def events(database: Database) -> list[WebhookEvent]:
    async with database.sessionmaker() as session:
        statement = select(WebhookEvent).order_by(WebhookEvent.id)
        return list((await session.execute(statement)).scalars())


async def endpoint(database: Database, endpoint_id: int) -> WebhookEndpoint:
    async with database.sessionmaker() as session:
        row = await session.get(WebhookEndpoint, endpoint_id)
        assert row is not None
        return row


async def make_due(database: Database, delivery_id: int | None = None) -> None:
    """Move retries into the past instead of waiting for them (the test's clock)."""
    statement = update(WebhookDelivery).values(next_attempt_at=utcnow() - timedelta(seconds=1))
    if delivery_id is not None:
        statement = statement.where(WebhookDelivery.id == delivery_id)
    async with transaction(database.sessionmaker) as session:
        await session.execute(statement)


async def age_delivery(database: Database, delivery_id: int, by: timedelta) -> None:
    """Pretend the delivery was created `by` ago."""
    async with transaction(database.sessionmaker) as session:
        row = await session.get(WebhookDelivery, delivery_id)
        assert row is not None
        row.created_at = row.created_at - by


async def age_failure_streak(database: Database, endpoint_id: int, by: timedelta) -> None:
    """Pretend the endpoint's failure streak began `by` earlier."""
    async with transaction(database.sessionmaker) as session:
        row = await session.get(WebhookEndpoint, endpoint_id)
        assert row is not None and row.failing_since is not None
        row.failing_since = row.failing_since - by


def job_for(url: str) -> Job:
    """A ping delivery to `url`, as the worker would have claimed it."""
    now = utcnow()
    return Job(
        delivery_id=1,
        endpoint_id=1,
        url=url,
        secret="whsec_test",
        event_id=1,
        event_type="ping",
        body=payload(1, "ping", now, {"message": "hello"}),
    )
