"""Logging to stdout: one JSON object a line in production, readable lines in development."""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from app.infra.jsonutil import dumps

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

# Extra fields the access log and others may attach with `extra={...}`.
EXTRA_FIELDS = ("method", "path", "status", "duration_ms", "user_id", "client_ip")


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            record.request_id = request_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    """time, level, message, logger, request_id and any access-log fields, as one JSON line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "message": record.getMessage(),
            "logger": record.name,
            "request_id": getattr(record, "request_id", None),
        }
        for field in EXTRA_FIELDS:
            value = getattr(record, field, None)
            if value is not None:
                entry[field] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return dumps(entry).decode()


class ConsoleFormatter(logging.Formatter):
    """`12:00:01 INFO  [req-id] message key=value` for a developer's terminal."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        rid = getattr(record, "request_id", None)
        extras = " ".join(
            f"{f}={getattr(record, f)}"
            for f in ("duration_ms", "user_id", "client_ip")
            if getattr(record, f, None) is not None
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
