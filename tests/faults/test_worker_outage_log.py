"""The webhook worker while its database goes away and comes back (issue 18 part 5): one
line when the outage starts, one when it ends, no traceback a poll."""

from __future__ import annotations

import asyncio
import logging

import pytest

from app.ops import worker as worker_module
from app.ops.worker import Worker
from tests.conftest import test_settings as settings_for
from tests.conftest import url_of
from tests.faults.conftest import ProxiedApp

pytestmark = pytest.mark.postgres


def _records(caplog: pytest.LogCaptureFixture, text: str) -> list[logging.LogRecord]:
    return [record for record in caplog.records if text in record.getMessage()]


async def _until(condition: object, seconds: float) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_a_database_outage_is_logged_once_and_its_end_once(
    proxied: ProxiedApp, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(worker_module, "POLL_SECONDS", 0.05)  # twenty polls a second
    caplog.set_level(logging.INFO, logger="app")
    worker = Worker(proxied.database, settings_for(url_of(proxied.database.engine)))
    running = asyncio.create_task(worker.run())
    try:
        await asyncio.sleep(0.5)
        assert _records(caplog, "database unavailable") == []

        await proxied.proxy.stop()
        await _until(lambda: _records(caplog, "database unavailable"), 15)
        await asyncio.sleep(2)  # dozens of failed polls
        assert not running.done()

        await proxied.proxy.start()
        await _until(lambda: _records(caplog, "database available again"), 15)
    finally:
        worker.stop()
        await asyncio.wait_for(running, 15)

    [down] = _records(caplog, "database unavailable")
    [back] = _records(caplog, "database available again")
    assert down.levelno == logging.ERROR and back.levelno == logging.INFO
    assert "while claiming deliveries" in down.getMessage()
    assert "webhook deliveries paused" in down.getMessage()
    assert "resumed" in back.getMessage()
    assert [record for record in caplog.records if record.exc_info] == []
