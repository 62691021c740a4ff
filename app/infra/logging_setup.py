"""Logging to stdout: one JSON object a line in production, readable lines in development."""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from app.infra.jsonutil import dumps, to_jsonable

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

# Attributes every LogRecord has: anything else on a record came from `extra={...}` (or
# a filter) and is written out as a field of its own. `color_message` is uvicorn's ANSI
# copy of the message, not information.
_RECORD_ATTRIBUTES = frozenset(logging.makeLogRecord({}).__dict__) | {
    "message",
    "asctime",
    "taskName",
    "color_message",
}
# The JSON line's own keys: an extra field of the same name is written as `extra_<name>`
# (kept, never overwriting the line's time or level, nor silently dropped).
RESERVED_FIELDS = ("time", "level", "message", "logger", "request_id", "exception")
# Already in the access log's message ("GET /path 200"): the console does not repeat them.
_IN_CONSOLE_MESSAGE = frozenset({"method", "path", "status"})


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The fields a call attached with `extra={...}`, JSON-safe, None values left out."""
    fields: dict[str, Any] = {}
    for key, value in record.__dict__.items():
        name = str(key)
        if name in _RECORD_ATTRIBUTES or name == "request_id" or value is None:
            continue
        if name in RESERVED_FIELDS:
            name = f"extra_{name}"
        fields[name] = _json_safe(value)
    return fields


def _json_safe(value: Any) -> Any:
    """Plain JSON types; anything else (a UUID, an exception, an object) as its text."""
    if isinstance(value, set | frozenset):
        value = sorted(value, key=str)  # a stable order, so equal sets log equal lines
    value = to_jsonable(value)
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, list):
        return [_json_safe(item) for item in value]
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    return str(value)


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            record.request_id = request_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    """time, level, message, logger, request_id and every extra field, as one JSON line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "message": record.getMessage(),
            "logger": record.name,
            "request_id": getattr(record, "request_id", None),
        }
        entry.update(extra_fields(record))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return dumps(entry).decode()


class ConsoleFormatter(logging.Formatter):
    """`12:00:01 INFO  [req-id] message key=value` for a developer's terminal."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        rid = getattr(record, "request_id", None)
        extras = " ".join(
            f"{name}={_console_value(value)}"
            for name, value in extra_fields(record).items()
            if name not in _IN_CONSOLE_MESSAGE
        )
        line = (
            f"{stamp} {record.levelname:<7} {f'[{rid[:8]}] ' if rid else ''}{record.getMessage()}"
        )
        if extras:
            line = f"{line} {extras}"
        if record.exc_info:
            line = f"{line}\n{self.formatException(record.exc_info)}"
        return line


def keep_statement_parameters_out_of_logs() -> None:
    """aiosqlite logs each statement with its parameters at DEBUG (webhook secrets and
    URLs, password hashes): its records start at INFO whatever LOG_LEVEL says."""
    logging.getLogger("aiosqlite").setLevel(logging.INFO)


def _console_value(value: Any) -> str:
    """A value as one `key=value` word: quoted (JSON) when it holds spaces, quotes or `=`."""
    text = value if isinstance(value, str) else dumps(value).decode()
    if isinstance(value, str) and (not text or any(c.isspace() or c in "\"'=" for c in text)):
        return dumps(text).decode()
    return text


def configure_logging(level: str = "INFO", fmt: str = "console") -> None:
    """Install one stdout handler on the root logger (idempotent)."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter() if fmt == "json" else ConsoleFormatter())
    handler.addFilter(_RequestIdFilter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        if getattr(existing, "_backoffice", False):
            root.removeHandler(existing)
    handler._backoffice = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    # Our access log replaces uvicorn's; its error log goes through our handler.
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True
    keep_statement_parameters_out_of_logs()
