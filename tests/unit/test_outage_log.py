"""OutageLog (app/ops/outage_log.py): unexpected errors keep their traceback, at most one a
minute, with a count of those left out; an outage is two lines (the real outage is
tests/faults/test_worker_outage_log.py)."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy.exc import OperationalError

from app.ops.outage_log import TRACEBACK_EVERY_SECONDS, OutageLog

logger = logging.getLogger("tests.outage")


def test_an_unexpected_error_has_its_traceback_at_most_once_a_minute(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="tests.outage")
    log = OutageLog(logger, "work")
    for _ in range(5):
        log.failed(RuntimeError("a bug"), "claiming deliveries")
    [first] = caplog.records
    assert first.levelno == logging.ERROR and first.exc_info is not None
    assert first.getMessage() == "claiming deliveries failed"

    assert log.last_traceback is not None
    log.last_traceback -= TRACEBACK_EVERY_SECONDS  # a minute later
    log.failed(RuntimeError("a bug"), "claiming deliveries")
    second = caplog.records[-1]
    assert len(caplog.records) == 2
    assert (
        second.getMessage()
        == "claiming deliveries failed (4 more errors since the last one logged)"
    )


def test_a_connection_refused_is_an_outage_logged_once_without_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="tests.outage")
    log = OutageLog(logger, "work")
    refused = OperationalError("SELECT 1", {}, ConnectionRefusedError(111, "Connection refused"))
    for _ in range(3):
        log.failed(refused, "claiming deliveries")
    assert log.database_down
    log.succeeded()
    log.succeeded()
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 2
    assert messages[0].startswith(
        "database unavailable while claiming deliveries (ConnectionRefusedError"
    )
    assert messages[1].startswith("database available again after")
    assert all(record.exc_info is None for record in caplog.records)
    assert not log.database_down
