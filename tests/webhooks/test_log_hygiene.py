"""No log record names a webhook target's path or query (issue 18 part 5): a receiver's URL
often carries its credential there, and httpx logs each request's whole URL."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator

import httpx
import pytest

from app.webhooks.log_hygiene import OriginOnlyFilter
from tests.log_capture import product_logging_at
from tests.webhooks.conftest import CommittedDatabase
from tests.webhooks.helpers import (
    add_endpoint,
    deliveries,
    emit_committed,
    make_due,
    run_once,
    worker_settings,
)
from tests.webhooks.receivers import Behaviour, running_receiver

PATH_SECRET = "T0PATHSECRET9f3a"
QUERY_SECRET = "QUERYSECRET71c2"
SECRET_TAIL = f"/services/{PATH_SECRET}/in?token={QUERY_SECRET}&v=1"


@pytest.fixture
def product_logging_at_debug(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """The product's own logging set-up at LOG_LEVEL=DEBUG (undone afterwards), with
    every logger the test reads at DEBUG too (an operator may raise any of them)."""
    with product_logging_at(caplog, ("httpx", "httpcore", "app")):
        yield


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _everything_logged(records: list[logging.LogRecord]) -> str:
    """Each record as any handler could write it: message, arguments, extras, traceback."""
    return "\n".join(
        f"{record.getMessage()} {record.__dict__!r} {record.exc_text or ''}" for record in records
    )


async def test_no_log_record_at_any_level_names_a_targets_path_query_or_secret(
    committed: CommittedDatabase, caplog: pytest.LogCaptureFixture, product_logging_at_debug: None
) -> None:
    settings = worker_settings(committed.url)
    unreachable = f"http://127.0.0.1:{_closed_port()}{SECRET_TAIL}"
    with running_receiver(Behaviour(fail_times=1)) as receiver:
        reachable = receiver.url.removesuffix("/hook") + SECRET_TAIL
        _, secret = await add_endpoint(
            committed.database, settings, reachable, ["customer.created"]
        )
        _, other_secret = await add_endpoint(
            committed.database, settings, unreachable, ["customer.created"]
        )
        receiver.set_secret(secret)
        await emit_committed(committed.database, "customer.created", {"customer": {"id": 1}})
        assert await run_once(committed.database, settings) == 2  # a 500, a refused connect
        await make_due(committed.database)
        assert await run_once(committed.database, settings) == 2  # a 200, refused again

    assert receiver.behaviour.statuses() == [500, 200]
    assert [d.status for d in await deliveries(committed.database)] == ["succeeded", "pending"]
    logged = _everything_logged(caplog.records)
    for needle in (PATH_SECRET, QUERY_SECRET, "token=", "/services/", secret, other_secret):
        assert needle not in logged, needle
    # The records the check read are there: httpx's request lines, by origin only.
    origin = receiver.url.removesuffix("/hook")
    request_lines = [r.getMessage() for r in caplog.records if r.name == "httpx"]
    assert any(line.startswith(f"HTTP Request: POST {origin} ") for line in request_lines)
    assert len(request_lines) == 2, request_lines
    assert any(r.name.startswith("httpcore.") for r in caplog.records)
    assert any(r.name.startswith("app.") for r in caplog.records)  # the worker's own lines


def test_the_filter_rewrites_every_url_in_a_record_to_its_origin() -> None:
    url = "https://hooks.example.com:8443/T0/B0/XXXX?token=abc"
    record = logging.LogRecord(
        "httpx", logging.INFO, __file__, 1, "HTTP Request: %s %s (%s)", None, None
    )
    record.args = ("POST", httpx.URL(url), f"see {url} again")
    assert OriginOnlyFilter().filter(record) is True  # rewritten, never dropped
    assert record.getMessage() == (
        "HTTP Request: POST https://hooks.example.com:8443 "
        "(see https://hooks.example.com:8443 again)"
    )
    preformatted = logging.LogRecord(
        "httpcore.http11", logging.DEBUG, __file__, 1, f"sent to {url}", None, None
    )
    OriginOnlyFilter().filter(preformatted)
    assert preformatted.getMessage() == "sent to https://hooks.example.com:8443"
