"""Database outages (SPEC §10): 503 problems within 5 s, /readyz 503, recovery without restart.

A small TCP proxy sits between the app and PostgreSQL; closing it is the outage.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy.engine import make_url

from app.infra import db
from app.infra.db import Database
from app.main import create_app
from tests.conftest import test_settings as settings_for


class TcpProxy:
    """Forwards a local port to PostgreSQL until `stop()` cuts every connection."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.server: asyncio.Server | None = None
        self.port = 0
        self.writers: set[asyncio.StreamWriter] = set()
        # Frozen: connections stay open but nothing gets through (a hung server, a network
        # that drops packets), the outage no error reveals.
        self.frozen = False

    async def start(self, port: int = 0) -> None:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in list(self.writers):
            writer.close()
        await self.server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self.writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                while data := await src.read(65536):
                    if self.frozen:
                        continue
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self.writers -= {writer, up_writer}


@pytest.fixture
async def proxied_app(
    postgresql_engine: object,
) -> AsyncIterator[tuple[httpx.AsyncClient, TcpProxy]]:
    url = postgresql_engine.url  # type: ignore[attr-defined]
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()
    proxied = make_url(url.render_as_string(hide_password=False)).set(
        host="127.0.0.1", port=proxy.port
    )
    settings = settings_for(proxied.render_as_string(hide_password=False))
    database = Database.from_settings(settings)
    app = create_app(settings, database)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client, proxy
    with contextlib.suppress(Exception):
        await proxy.stop()
    await database.dispose()


async def test_an_outage_is_503_within_5_seconds_and_service_resumes_by_itself(
    proxied_app: tuple[httpx.AsyncClient, TcpProxy],
) -> None:
    client, proxy = proxied_app
    ready = await client.get("/readyz")
    assert ready.status_code == 200, ready.text
    port = proxy.port

    await proxy.stop()
    for path in ("/readyz", "/api/v1/customers"):
        started = time.monotonic()
        response = await client.get(path, headers={"Authorization": "Bearer bo_" + "x" * 43})
        assert response.status_code == 503, response.text
        assert time.monotonic() - started < 5
    problem = (
        await client.get("/api/v1/customers", headers={"Authorization": "Bearer bo_" + "x" * 43})
    ).json()
    assert problem["status"] == 503 and "Traceback" not in str(problem)

    await proxy.start(port)  # the database is back, on the same address
    recovered = await client.get("/readyz")
    assert recovered.status_code == 200, recovered.text
    unauthenticated = await client.get(
        "/api/v1/customers", headers={"Authorization": "Bearer bo_" + "x" * 43}
    )
    assert unauthenticated.status_code == 401  # the database answered again


async def test_a_database_that_stops_answering_is_503_within_5_seconds_and_recovers(
    proxied_app: tuple[httpx.AsyncClient, TcpProxy], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, proxy = proxied_app
    unknown = {"Authorization": "Bearer bo_" + "x" * 43}
    assert (await client.get("/api/v1/customers", headers=unknown)).status_code == 401
    # Every checkout pings, as after any idle second: the pooled connection is asked first.
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.0)

    proxy.frozen = True
    for path in ("/api/v1/customers", "/api/v1/customers", "/readyz"):
        started = time.monotonic()
        # Bounded here too, so a request that never ends fails the test instead of hanging.
        response = await asyncio.wait_for(client.get(path, headers=unknown), timeout=20)
        assert response.status_code == 503, response.text
        assert time.monotonic() - started < 5, path

    proxy.frozen = False
    recovered = await client.get("/api/v1/customers", headers=unknown)
    assert recovered.status_code == 401  # the database answered again
    assert (await client.get("/readyz")).status_code == 200
