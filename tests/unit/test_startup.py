"""exit_on_startup_error: a factory's failure is one stderr line and an exit status."""

from __future__ import annotations

import multiprocessing

import pytest
from uvicorn.config import STARTUP_FAILURE

from app.infra.settings import ConfigError
from app.infra.startup import (
    CONFIG_ERROR,
    WORKER_STARTUP_FAILURE,
    exit_on_startup_error,
    one_line,
)

SECRET = "pw-s3cret-do-not-print"


def _exit_of(error: Exception, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    with pytest.raises(SystemExit) as ended, exit_on_startup_error():
        raise error
    captured = capsys.readouterr()
    assert captured.out == ""
    assert isinstance(ended.value.code, int)
    return ended.value.code, captured.err.splitlines()


def test_a_config_error_exits_2_with_its_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _exit_of(ConfigError("invalid setting PORT: too big"), capsys)
    assert (code, err) == (CONFIG_ERROR, ["error: invalid setting PORT: too big"])


def test_any_other_failure_exits_1_with_its_innermost_cause(
    capsys: pytest.CaptureFixture[str],
) -> None:
    try:
        raise OSError("static directory missing\nsecond line")
    except OSError as cause:
        error = RuntimeError("wrapper")
        error.__cause__ = cause
    code, err = _exit_of(error, capsys)
    assert code == 1
    assert err == ["error: the application could not start (OSError: static directory missing)"]


def test_in_a_server_worker_process_the_status_stops_uvicorns_supervisor(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(multiprocessing, "parent_process", lambda: object())
    code, err = _exit_of(ConfigError("invalid setting PORT: too big"), capsys)
    assert code == WORKER_STARTUP_FAILURE == STARTUP_FAILURE
    assert len(err) == 1


def test_nothing_happens_without_a_failure() -> None:
    with exit_on_startup_error():
        value = 42
    assert value == 42


def test_one_line_masks_the_database_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", f"postgres://u:{SECRET}@db/app")
    assert one_line(f"cannot connect:\n  password {SECRET} refused") == (
        "cannot connect: password *** refused"
    )
