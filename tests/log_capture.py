"""The product's own logging at DEBUG for a test that reads every record (secrets tests)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from app.infra.logging_setup import configure_logging


@contextmanager
def product_logging_at(
    caplog: pytest.LogCaptureFixture, loggers: tuple[str, ...]
) -> Iterator[None]:
    """configure_logging("DEBUG", "json") as in production, with `loggers` at DEBUG too
    whatever the set-up says (an operator may raise any of them); undone afterwards."""
    caplog.set_level(logging.DEBUG)  # first: caplog restores the root's level afterwards
    driver = logging.getLogger("aiosqlite")
    driver_level = driver.level
    configure_logging("DEBUG", "json")
    for name in loggers:
        caplog.set_level(logging.DEBUG, logger=name)
    try:
        yield
    finally:
        root = logging.getLogger()
        for handler in [h for h in root.handlers if getattr(h, "_backoffice", False)]:
            root.removeHandler(handler)
        driver.setLevel(driver_level)
