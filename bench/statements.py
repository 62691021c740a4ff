"""SQL per request, seen in process through SQLAlchemy's before_cursor_execute hook (and
the Database's statement observers, for what lean routes send on the driver).

Two uses: statements per request (counted), and the database time of list pages (the
recorded SELECTs replayed under EXPLAIN ANALYZE).

The app runs with the server's settings behind httpx's ASGITransport; each request is sent
a few times and the median count kept (the first may include one-off work such as the
dialect's first-connect queries). Transaction control (BEGIN/COMMIT) and the pool's
pre-ping go through the driver directly, so they are not in the counts.
"""

from __future__ import annotations

import json
import re
import statistics
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import asyncpg
import httpx
from sqlalchemy import event

from app.infra.db import Database
from app.infra.settings import load_settings
from app.main import create_app
from bench.clients import admin_cookie, bearer
from bench.database import Credentials

REPEATS = 3
DB_TIME_RUNS = 5
K = TypeVar("K")


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


class _Recorder:
    """Keeps the SQL (driver form, $n placeholders) and parameters of each statement."""

    def __init__(self) -> None:
        self.statements: list[tuple[str, Sequence[Any]]] = []

    def __call__(self, _conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        self.statements.append((statement, tuple(parameters or ())))


@asynccontextmanager
async def _in_process(
    database_url: str, env: dict[str, str], listener: Callable[..., None]
) -> AsyncIterator[httpx.AsyncClient]:
    """The app with the server's settings behind ASGITransport; `listener` sees every SQL."""
    settings = load_settings(
        database_url=database_url,
        secret_key=env["SECRET_KEY"],
        environment=env["ENVIRONMENT"],
        log_level=env["LOG_LEVEL"],
        rate_limit_api=env["RATE_LIMIT_API"],
        _env_file=None,
    )
    database = Database.from_settings(settings)
    event.listen(database.engine.sync_engine, "before_cursor_execute", listener)
    # Lean routes send their statements on the driver, past SQLAlchemy's events.
    database.statement_observers.append(lambda sql, args: listener(None, None, sql, args))
    transport = httpx.ASGITransport(app=create_app(settings, database), client=("127.0.0.1", 40000))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            yield client
    finally:
        await database.dispose()


async def count_statements(
    database_url: str, env: dict[str, str], credentials: Credentials, probes: list[Probe]
) -> dict[str, int]:
    """{label: median statements per request}; raises if a probe answers the wrong status."""
    counter = _Counter()
    results: dict[str, int] = {}
    async with _in_process(database_url, env, counter) as client:
        cookie = await admin_cookie(client, credentials)
        for probe in probes:
            counts = []
            for _ in range(REPEATS):
                counts.append(await _one(client, counter, probe, credentials, cookie))
            results[probe.label] = round(statistics.median(counts))
    return results


async def database_times(
    database_url: str,
    env: dict[str, str],
    credentials: Credentials,
    pages: Mapping[K, tuple[str, bool]],
) -> dict[K, float]:
    """{key: ms PostgreSQL spends executing the page's SELECTs} (EXPLAIN ANALYZE, best of 5);
    a page that does not answer 200 has no entry.

    Each page is requested once in process to record the SQL the app sends; those SELECTs
    are then run under EXPLAIN ANALYZE with the same parameters. Writes are not replayed.
    Unlike HTTP latency on a busy machine, this isolates how the queries grow with a table.
    """
    recorder = _Recorder()
    results: dict[K, float] = {}
    async with _in_process(database_url, env, recorder) as client:
        cookie = await admin_cookie(client, credentials)
        connection = await asyncpg.connect(database_url)
        try:
            for key, (path, admin) in pages.items():
                headers = {"Cookie": cookie} if admin else bearer(credentials.token)
                recorder.statements.clear()
                response = await client.get(path, headers=headers)
                if response.status_code != 200:
                    continue  # no time for a failing page: its HTTP probe reports the errors
                reads = [(sql, params) for sql, params in recorder.statements if _reads(sql)]
                # The fastest of several runs: interference (autovacuum, the other core's
                # work) only ever adds time to a sub-millisecond, CPU-bound query, and the
                # median of three still caught it (one probe read 1.8× growth in two runs
                # while its plan, buffers and isolated timings were the same at both sizes).
                results[key] = min(
                    [await _execution_ms(connection, reads) for _ in range(DB_TIME_RUNS)]
                )
        finally:
            await connection.close()
    return results


_WRITES = re.compile(r"\b(INSERT\s+INTO|UPDATE|DELETE\s+FROM)\b", re.IGNORECASE)


def _reads(sql: str) -> bool:
    """A SELECT, or a WITH … SELECT that writes nothing (a read carrying the credential
    lookup, app/infra/riding.py); a data-modifying CTE is a write and is not replayed."""
    start = sql.lstrip().upper()
    return start.startswith("SELECT") or (start.startswith("WITH") and not _WRITES.search(sql))


async def _execution_ms(
    connection: asyncpg.Connection, reads: list[tuple[str, Sequence[Any]]]
) -> float:
    total = 0.0
    for sql, params in reads:
        plan = await connection.fetchval(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", *params)
        total += float(json.loads(plan)[0]["Execution Time"])
    return total


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
