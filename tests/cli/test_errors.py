"""The installed `backoffice` script: exit codes and one-line errors, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.infra.migrations import head_revision
from tests.cli.helpers import STRONG_PASSWORD, cli_env, invoke, lines, run_backoffice

SECRET = "pw-s3cret-do-not-print"
COMMANDS = {
    "migrate": ("migrate",),
    "seed-demo": ("seed-demo",),
    "bootstrap": ("bootstrap",),
    "create-user": (
        "create-user",
        "--email",
        "a@example.com",
        "--role",
        "admin",
        "--password-stdin",
    ),
}


def _assert_one_line_error(stdout: str, stderr: str) -> str:
    assert "Traceback" not in stdout + stderr
    assert stdout == ""
    [line] = lines(stderr)
    assert line.startswith("error: ")
    return line


@pytest.mark.parametrize("command", COMMANDS)
def test_unreachable_database_is_one_line_without_the_password(
    command: str, tmp_path: Path
) -> None:
    url = f"postgresql://postgres:{SECRET}@127.0.0.1:1/x"
    env = cli_env(DATABASE_URL=url)
    done = run_backoffice(*COMMANDS[command], env=env, input=STRONG_PASSWORD, cwd=tmp_path)
    assert done.returncode != 0
    line = _assert_one_line_error(done.stdout, done.stderr)
    assert line.startswith("error: cannot reach the database at postgresql+asyncpg://postgres:")
    assert "ConnectionRefusedError" in line
    assert SECRET not in done.stdout + done.stderr


def test_sqlite_file_in_a_missing_directory_is_one_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/missing/dir/backoffice.db"
    done = run_backoffice("migrate", env=cli_env(DATABASE_URL=url), cwd=tmp_path)
    assert done.returncode == 1
    line = _assert_one_line_error(done.stdout, done.stderr)
    assert "cannot reach the database" in line and "unable to open database file" in line


@pytest.mark.parametrize(
    "url",
    [f"mysql://root:{SECRET}@db.example/shop", f"::{SECRET}::", f"postgres://u:{SECRET}@h:port/db"],
)
def test_bad_database_url_is_one_line_and_exit_2(url: str) -> None:
    result = invoke(url, "migrate")  # in-process: the subprocess tests above cover the script
    assert result.exit_code == 2
    line = _assert_one_line_error(result.stdout, result.stderr)
    assert "DATABASE_URL" in line
    assert SECRET not in result.output


@pytest.mark.parametrize("command", ["migrate", "serve", "create-user"])
def test_production_without_secret_key_is_one_line_and_exit_2(command: str, tmp_path: Path) -> None:
    args = COMMANDS.get(command, (command,))
    url = f"sqlite:///{tmp_path}/x.db"
    result = invoke(url, *args, input=STRONG_PASSWORD, ENVIRONMENT="production", SECRET_KEY=None)
    assert result.exit_code == 2
    line = _assert_one_line_error(result.stdout, result.stderr)
    assert "SECRET_KEY" in line


def test_bad_arguments_are_a_usage_error(tmp_path: Path) -> None:
    result = invoke(f"sqlite:///{tmp_path}/x.db", "create-user", "--email", "a@example.com")
    assert result.exit_code == 2
    assert "Missing option '--role'" in result.stderr


def test_the_installed_script_migrates_and_creates_users(database_url: str, tmp_path: Path) -> None:
    env = cli_env(DATABASE_URL=database_url)
    for _ in range(2):
        done = run_backoffice("migrate", env=env, cwd=tmp_path)
        assert (done.returncode, done.stdout) == (0, f"database at head ({head_revision()})\n")

    create = ("create-user", "--email", "ann@example.com", "--role", "admin", "--password-stdin")
    done = run_backoffice(*create, env=env, input=STRONG_PASSWORD + "\n", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""

    duplicate = (
        "create-user",
        "--email",
        "Ann@Example.com",
        "--role",
        "viewer",
        "--password-stdin",
    )
    done = run_backoffice(*duplicate, env=env, input=STRONG_PASSWORD + "\n", cwd=tmp_path)
    assert done.returncode == 2
    line = _assert_one_line_error(done.stdout, done.stderr)
    assert line == "error: A user with this email already exists"

    no_terminal = ("create-user", "--email", "bob@example.com", "--role", "viewer")
    done = run_backoffice(*no_terminal, env=env, input="", cwd=tmp_path)
    assert done.returncode == 2
    assert "--password-stdin" in _assert_one_line_error(done.stdout, done.stderr)
