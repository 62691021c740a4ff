"""Keeps webhook target URLs out of the HTTP client's log records: only their origin shows.

A receiver's URL often carries its credential in the path or query
(`https://hooks.example.com/T0/B0/XXXX`, `?token=…`), and httpx logs every request's whole
URL at INFO (logger `httpx`). Whatever level an operator sets, a filter on the client's
own loggers rewrites each URL in a record to `scheme://host[:port]` before any handler sees
it. (Filters on a logger apply to the records logged through that very logger, so each of
httpcore's loggers gets it too.)
"""

from __future__ import annotations

import logging
import re
from typing import Any

import httpx

from app.webhooks.urls import origin

HTTP_CLIENT_LOGGERS = (
    "httpx",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
)
URL_IN_TEXT = re.compile(r"https?://[^\s'\"<>]+", re.IGNORECASE)


def _origin_only(value: Any) -> Any:
    if isinstance(value, httpx.URL):
        return origin(str(value))
    if isinstance(value, str | bytes):
        text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
        if URL_IN_TEXT.search(text):
            return URL_IN_TEXT.sub(lambda match: origin(match.group()), text)
    return value


class OriginOnlyFilter(logging.Filter):
    """Rewrites every URL in a record's message and arguments to its origin; drops nothing."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = _origin_only(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_origin_only(arg) for arg in record.args)
        elif isinstance(record.args, dict):
            record.args = {key: _origin_only(arg) for key, arg in record.args.items()}
        return True


ORIGIN_ONLY = OriginOnlyFilter()


def keep_target_urls_out_of_logs() -> None:
    """Install the filter on the HTTP client's loggers (again is harmless: added once)."""
    for name in HTTP_CLIENT_LOGGERS:
        logging.getLogger(name).addFilter(ORIGIN_ONLY)
