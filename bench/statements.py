"""SQL statements per request, counted in process with a SQLAlchemy before_cursor_execute hook.

The app runs with the server's settings behind httpx's ASGITransport; each request is sent
a few times and the median count kept (the first may include one-off work such as the
dialect's first-connect queries). Transaction control (BEGIN/COMMIT) and the pool's
pre-ping go through the driver directly, so they are not in the counts.
"""

from __future__ import annotations

import statistics
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import event

from app.db import Database
from app.main import create_app
from app.settings import load_settings
from bench.clients import admin_cookie, bearer
from bench.database import Credentials

REPEATS = 3


@dataclass(frozen=True)
class Probe:
    """One request whose statements are counted; `body` may depend on a unique token."""

    label: str
    path: str
    method: str = "GET"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: Callable[[str], dict[str, Any]] | None = None
    admin: bool = False


class _Counter:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self, *_: Any) -> None:
        self.count += 1


async def count_statements(
    database_url: str, env: dict[str, str], credentials: Credentials, probes: list[Probe]
) -> dict[str, int]:
    """{label: median statements per request}; raises if a probe answers the wrong status."""
    settings = load_settings(
        database_url=database_url,
        secret_key=env["SECRET_KEY"],
        environment=env["ENVIRONMENT"],
        log_level=env["LOG_LEVEL"],
        rate_limit_api=env["RATE_LIMIT_API"],
        _env_file=None,
    )
    database = Database.from_settings(settings)
    counter = _Counter()
    event.listen(database.engine.sync_engine, "before_cursor_execute", counter)
    app = create_app(settings, database)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
    results: dict[str, int] = {}
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            cookie = await admin_cookie(client, credentials)
            for probe in probes:
                counts = []
                for _ in range(REPEATS):
                    counts.append(await _one(client, counter, probe, credentials, cookie))
                results[probe.label] = round(statistics.median(counts))
    finally:
        await database.dispose()
    return results


async def _one(
    client: httpx.AsyncClient,
    counter: _Counter,
    probe: Probe,
    credentials: Credentials,
    cookie: str,
) -> int:
    headers = {"Cookie": cookie} if probe.admin else bearer(credentials.token)
    headers |= probe.headers
    unique = uuid.uuid4().hex
    if probe.method == "POST":
        headers["Idempotency-Key"] = unique
    counter.count = 0
    response = await client.request(
        probe.method,
        probe.path,
        headers=headers,
        json=probe.body(unique) if probe.body else None,
    )
    if response.status_code != probe.status:
        raise RuntimeError(
            f"{probe.label}: HTTP {response.status_code}, expected {probe.status}: "
            f"{response.text[:300]}"
        )
    return counter.count
