"""Start-up: --version, -h, shell completion, and settings refused in one line, exit 2."""

from __future__ import annotations

import importlib.metadata
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main

from app.ops.cli import cli
from tests.cli.helpers import BACKOFFICE, cli_env, invoke, lines, run_backoffice

SECRET = "pw-s3cret-do-not-print"
COMMANDS = sorted(typer.main.get_command(cli).commands)  # type: ignore[attr-defined]


def test_version_prints_the_installed_distribution_version(tmp_path: Path) -> None:
    # Eager: a bad setting does not stand between an operator and the version.
    done = run_backoffice("--version", env=cli_env(RATE_LIMIT_API="nonsense"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"backoffice {importlib.metadata.version('backoffice')}\n"
    assert done.stderr == ""


def test_h_is_help_on_the_app(tmp_path: Path) -> None:
    short = invoke(f"sqlite:///{tmp_path}/x.db", "-h")
    assert short.exit_code == 0
    assert "Usage: backoffice" in short.stdout
    assert short.stdout == invoke(f"sqlite:///{tmp_path}/x.db", "--help").stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_h_is_help_on_every_command(command: str, tmp_path: Path) -> None:
    assert {"serve", "migrate", "worker", "create-user", "purge"} <= set(COMMANDS)
    short = invoke(f"sqlite:///{tmp_path}/x.db", command, "-h")
    assert short.exit_code == 0, short.output
    assert f"Usage: backoffice {command}" in short.stdout
    assert short.stdout == invoke(f"sqlite:///{tmp_path}/x.db", command, "--help").stdout


def test_completion_script_for_bash_without_a_terminal(tmp_path: Path) -> None:
    env = cli_env(_BACKOFFICE_COMPLETE="source_bash")
    done = run_backoffice(env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "_backoffice_completion()" in done.stdout
    assert "complete -o default -F _backoffice_completion backoffice" in done.stdout


def test_completion_completes_command_names_and_options(tmp_path: Path) -> None:
    env = cli_env(_BACKOFFICE_COMPLETE="complete_bash", COMP_WORDS="backoffice se", COMP_CWORD="1")
    done = run_backoffice(env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert lines(done.stdout) == ["serve", "seed-demo"]
    env |= {"COMP_WORDS": "backoffice serve --", "COMP_CWORD": "2"}
    assert {"--host", "--port", "--workers"} <= set(
        lines(run_backoffice(env=env, cwd=tmp_path).stdout)
    )


def test_show_completion_prints_the_script_for_the_calling_shell(tmp_path: Path) -> None:
    # `; true`: bash stays the parent (no exec), as when a person types the command.
    done = subprocess.run(
        ["bash", "-c", f"{BACKOFFICE} --show-completion; true"],
        env=cli_env(),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "_backoffice_completion" in done.stdout


def _assert_refused(done: subprocess.CompletedProcess[str], variable: str) -> str:
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    [line] = lines(done.stderr)
    assert line.startswith(f"error: invalid setting {variable}: ")
    assert SECRET not in done.stdout + done.stderr
    return line


@pytest.mark.parametrize(
    ("command", "variable", "value"),
    [
        ("serve", "RATE_LIMIT_API", "600/fortnight"),
        ("migrate", "RATE_LIMIT_LOGIN", "0/minute"),
        ("worker", "METRICS_TOKEN", "abc"),
        ("serve", "REDIS_URL", f"http://:{SECRET}@cache:6379"),
        ("worker", "ADMIN_TIMEZONE", "Mars/Olympus_Mons"),
        ("migrate", "DATABASE_URL", f"postgres://u:{SECRET}@127.0.0.1:1/x?channel_binding=require"),
        ("serve", "DATABASE_URL", f"postgres://u:{SECRET}@127.0.0.1:1/x?connect_timeout=soon"),
    ],
)
def test_a_bad_setting_stops_the_command_in_one_line_exit_2(
    command: str, variable: str, value: str, tmp_path: Path
) -> None:
    env = cli_env(DATABASE_URL=f"sqlite:///{tmp_path}/x.db") | {variable: value}
    _assert_refused(run_backoffice(command, env=env, cwd=tmp_path), variable)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_uvicorn_running_the_factory_itself_refuses_a_bad_setting_in_one_line(
    tmp_path: Path,
) -> None:
    """`uvicorn app.main:create_app --factory`: the factory's failure, not uvicorn's traceback."""
    env = cli_env(DATABASE_URL=f"sqlite:///{tmp_path}/x.db", RATE_LIMIT_API="lots")
    port = str(_free_port())
    done = subprocess.run(
        [sys.executable, "-m", "uvicorn", "app.main:create_app", "--factory", "--port", port],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    line = _assert_refused(done, "RATE_LIMIT_API")
    assert "rate limit" in line
