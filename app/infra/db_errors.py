"""What a database error means to the caller: a clash to re-run, an outage (503), or a bug.

One classification for every door: the API's error handlers, the retry at the unit-of-work
boundary (app/edge/retry.py), the admin's message page and the last-resort handler all ask
`failure_kind(error)`. It reads the SQLSTATE where the driver gives one (PostgreSQL's own
code, stable across versions and languages) and falls back to the exception's type, and
only for SQLite (which has no SQLSTATE) to its message.
"""

from __future__ import annotations

from collections.abc import Iterator
from enum import Enum

from sqlalchemy import exc

# Deadlock detected, serialization failure: the server rolled the transaction back; the
# same transaction run again may well succeed. Lock timeout: a lock waited for too long.
CONFLICT_SQLSTATES = frozenset({"40P01", "40001", "55P03"})
# Class 08: connection exception; 57P01-57P05: admin/crash shutdown, cannot connect now
# (starting up, shutting down, in recovery), database dropped, idle session timeout;
# 53300: too many connections; 25006: read-only transaction (a failover's old primary).
UNAVAILABLE_SQLSTATE_PREFIXES = ("08", "57P", "53", "25006")
# SQLite has no SQLSTATE. "database is locked": the write lock stayed taken beyond the
# busy timeout; "disk I/O error", "unable to open": the file is not there to use.
SQLITE_UNAVAILABLE_MESSAGES = ("database is locked", "unable to open database", "disk i/o error")
# What is left after a server restart on an asyncpg connection it had: its errors name it.
CLOSED_CONNECTION_MESSAGES = ("connection is closed", "connection was closed", "terminat")


class FailureKind(Enum):
    """Why a database operation failed, as far as the caller is concerned."""

    # The server aborted the transaction because of other transactions: re-run it.
    CONFLICT = "conflict"
    # The database could not be reached or is not accepting work: 503, retry later.
    UNAVAILABLE = "unavailable"


def _chain(error: BaseException) -> Iterator[BaseException]:
    """`error`, the driver error SQLAlchemy wraps, and their causes (each seen once)."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop(0)
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        orig = current.orig if isinstance(current, exc.DBAPIError) else None
        pending.extend([orig, current.__cause__, current.__context__])


def sqlstate(error: BaseException) -> str | None:
    """The SQLSTATE the database server sent for `error`, if any link of the chain has one."""
    for link in _chain(error):
        code = getattr(link, "sqlstate", None)
        if isinstance(code, str) and len(code) == 5:
            return code
    return None


def failure_kind(error: BaseException) -> FailureKind | None:
    """CONFLICT, UNAVAILABLE, or None when `error` is neither (a bug, or the client's data)."""
    code = sqlstate(error)
    if code is not None:
        if code in CONFLICT_SQLSTATES:
            return FailureKind.CONFLICT
        if code.startswith(UNAVAILABLE_SQLSTATE_PREFIXES):
            return FailureKind.UNAVAILABLE
        return None
    for link in _chain(error):
        if isinstance(link, exc.DBAPIError) and link.connection_invalidated:
            return FailureKind.UNAVAILABLE
        # The pool's wait for a connection, the connection gate's, a ping that timed out,
        # a refused or reset socket.
        if isinstance(link, exc.TimeoutError | exc.DisconnectionError | OSError | TimeoutError):
            return FailureKind.UNAVAILABLE
        text = str(link).lower()
        if isinstance(link, exc.DBAPIError) and any(
            marker in text for marker in SQLITE_UNAVAILABLE_MESSAGES
        ):
            return FailureKind.UNAVAILABLE
        if type(link).__name__ in {"InterfaceError", "ConnectionDoesNotExistError"} and any(
            marker in text for marker in CLOSED_CONNECTION_MESSAGES
        ):
            return FailureKind.UNAVAILABLE
    return None


def is_value_refused(error: BaseException) -> bool:
    """Whether the database refused a value the client sent (SQLSTATE class 22).

    E.g. a number beyond the column's range, or a NUL character PostgreSQL text cannot hold.
    """
    if isinstance(error, exc.DataError):
        return True
    code = sqlstate(error)
    if code is not None:
        return code.startswith("22")
    if not isinstance(error, exc.DBAPIError) or error.orig is None:
        return False
    # asyncpg refuses e.g. an int beyond int4 before sending (a ValueError subclass).
    return any(isinstance(link, ValueError | OverflowError) for link in _chain(error.orig))
