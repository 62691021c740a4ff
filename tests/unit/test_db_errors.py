"""The classification every door uses for database errors (app/infra/db_errors.py)."""

from __future__ import annotations

import sqlite3

import asyncpg
import pytest
from sqlalchemy import exc

from app.infra.db_errors import FailureKind, failure_kind, is_value_refused


@pytest.mark.parametrize(
    ("error_class", "message"),
    [
        (asyncpg.CannotConnectNowError, "the database system is starting up"),
        (asyncpg.CannotConnectNowError, "the database system is shutting down"),
        (asyncpg.AdminShutdownError, "terminating connection due to administrator command"),
        (asyncpg.TooManyConnectionsError, "sorry, too many clients already"),
        (asyncpg.ConnectionDoesNotExistError, "connection was closed in the middle of operation"),
    ],
)
def test_what_a_restarting_server_says_is_an_outage(error_class: type, message: str) -> None:
    error = error_class(message)
    assert failure_kind(error) is FailureKind.UNAVAILABLE
    # The same, as SQLAlchemy raises it around the driver's error.
    wrapped = exc.OperationalError("SELECT 1", {}, error)
    assert failure_kind(wrapped) is FailureKind.UNAVAILABLE


@pytest.mark.parametrize(
    "error_class",
    [asyncpg.DeadlockDetectedError, asyncpg.SerializationError, asyncpg.LockNotAvailableError],
)
def test_clashes_with_other_transactions_are_conflicts(error_class: type) -> None:
    assert failure_kind(exc.OperationalError("UPDATE", {}, error_class("x"))) is (
        FailureKind.CONFLICT
    )


@pytest.mark.parametrize(
    "error",
    [
        ConnectionRefusedError(111, "Connect call failed"),
        exc.TimeoutError("QueuePool limit reached"),
        exc.OperationalError("BEGIN", {}, sqlite3.OperationalError("database is locked")),
    ],
    ids=["refused", "pool-timeout", "sqlite-locked"],
)
def test_unreachable_or_busy_is_an_outage(error: BaseException) -> None:
    assert failure_kind(error) is FailureKind.UNAVAILABLE


@pytest.mark.parametrize(
    "error",
    [
        exc.IntegrityError("INSERT", {}, asyncpg.UniqueViolationError("duplicate key")),
        exc.ProgrammingError("SELECT", {}, asyncpg.UndefinedColumnError("no such column")),
        KeyError("bug"),
    ],
    ids=["unique", "bad-sql", "bug"],
)
def test_everything_else_is_neither(error: BaseException) -> None:
    assert failure_kind(error) is None


def test_a_value_the_column_cannot_hold_is_the_clients_fault() -> None:
    error = exc.DBAPIError("INSERT", {}, asyncpg.CharacterNotInRepertoireError("NUL"))
    assert is_value_refused(error)
    assert failure_kind(error) is None
