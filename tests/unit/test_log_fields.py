"""Structured logs: every `extra={...}` field kept, JSON-safe, never over the line's own keys."""

from __future__ import annotations

import json
import logging
import uuid
from decimal import Decimal
from typing import Any

import pytest

from app.infra.logging_setup import ConsoleFormatter, JsonFormatter, request_id_var


def record(message: str = "delivery %s sent", *args: object, **extra: Any) -> logging.LogRecord:
    """A record as `logger.info(message, *args, extra=extra)` makes it."""
    logger = logging.getLogger("app.test")
    return logger.makeRecord(
        logger.name, logging.INFO, __file__, 1, message, args, None, extra=extra
    )


def as_json(entry: logging.LogRecord) -> dict[str, Any]:
    line = JsonFormatter().format(entry)
    assert "\n" not in line
    parsed: dict[str, Any] = json.loads(line)
    return parsed


def test_any_extra_field_is_a_key_of_the_json_line() -> None:
    entry = as_json(record("delivery %s sent", 3, delivery_id=3, attempt=2, endpoint_id=7))
    assert entry["message"] == "delivery 3 sent"
    assert (entry["delivery_id"], entry["attempt"], entry["endpoint_id"]) == (3, 2, 7)
    assert entry["level"] == "info" and entry["logger"] == "app.test"


def test_standard_record_attributes_are_not_repeated_as_fields() -> None:
    entry = as_json(record(worker="w1"))
    assert set(entry) == {"time", "level", "message", "logger", "request_id", "worker"}


@pytest.mark.parametrize("name", ["time", "level", "logger", "exception"])
def test_an_extra_named_like_a_field_of_the_line_is_prefixed_not_lost(name: str) -> None:
    entry = as_json(record(**{name: "from the caller"}))
    assert entry[f"extra_{name}"] == "from the caller"
    assert entry.get(name) != "from the caller"


def test_values_are_made_json_safe() -> None:
    token = uuid.uuid4()
    entry = as_json(
        record(
            amount=Decimal("12.50"),
            tags={"b", "a"},
            pair=(1, 2),
            nested={1: [Decimal("1.0")]},
            id=token,
            thing=object(),
            missing=None,
        )
    )
    assert entry["amount"] == "12.50"
    assert entry["tags"] == ["a", "b"]
    assert entry["pair"] == [1, 2]
    assert entry["nested"] == {"1": ["1.0"]}
    assert entry["id"] == str(token)
    assert entry["thing"].startswith("<object object at")
    assert "missing" not in entry


def test_a_request_id_given_as_extra_is_the_lines_request_id() -> None:
    parsed = as_json(record(request_id="req-123", attempt=1))
    assert parsed["request_id"] == "req-123"
    assert "extra_request_id" not in parsed


def test_the_request_id_of_the_current_request_is_the_default(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from app.infra.logging_setup import configure_logging

    configure_logging("INFO", "json")
    token = request_id_var.set("req-456")
    try:
        logging.getLogger("app.ops.test").info("inside", extra={"attempt": 1})
    finally:
        request_id_var.reset(token)
        configure_logging("INFO", "console")
    [line] = [ln for ln in capsys.readouterr().out.splitlines() if '"inside"' in ln]
    assert json.loads(line)["request_id"] == "req-456"


def test_uvicorns_colour_copy_of_the_message_is_left_out() -> None:
    assert "color_message" not in as_json(record(color_message="\x1b[1mGET\x1b[0m"))


def test_the_console_shows_extra_fields_as_key_value() -> None:
    line = ConsoleFormatter().format(
        record("delivery %s sent", 3, delivery_id=3, attempt=2, note="two words", flag=True)
    )
    assert line.endswith('delivery 3 sent delivery_id=3 attempt=2 note="two words" flag=true')


def test_the_console_access_line_does_not_repeat_its_message() -> None:
    line = ConsoleFormatter().format(
        record("%s %s %s", "GET", "/x", 200, method="GET", path="/x", status=200, duration_ms=1.5)
    )
    assert line.endswith("GET /x 200 duration_ms=1.5")


def test_a_logger_call_with_extra_reaches_the_json_output(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from app.infra.logging_setup import configure_logging

    configure_logging("INFO", "json")
    try:
        logging.getLogger("app.ops.test").info("sent", extra={"delivery_id": 3, "attempt": 2})
        [line] = [ln for ln in capsys.readouterr().out.splitlines() if '"sent"' in ln]
    finally:
        configure_logging("INFO", "console")
    entry = json.loads(line)
    assert (entry["delivery_id"], entry["attempt"]) == (3, 2)
