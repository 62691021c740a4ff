"""`backoffice serve`: uvicorn with the app factory, settings-driven defaults, clean shutdown."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.cli.helpers import BACKOFFICE, cli_env, invoke, run_backoffice
from tests.conftest import TEST_SECRET_KEY


@pytest.fixture
def uvicorn_calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """What `serve` would have passed to uvicorn.run (nothing is started)."""
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr("app.ops.cli.uvicorn.run", lambda **kwargs: calls.append(kwargs))
    monkeypatch.setattr("app.ops.cli.configure_logging", lambda *args: None)
    return calls


def test_serve_runs_the_factory_with_settings_defaults(
    uvicorn_calls: list[dict[str, Any]], tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path}/x.db"
    result = invoke(url, "serve", PORT="8123", WEB_CONCURRENCY="3")
    assert result.exit_code == 0, result.output
    [options] = uvicorn_calls
    assert options == {
        "app": "app.main:create_app",
        "factory": True,
        "host": "127.0.0.1",
        "port": 8123,
        "workers": 3,
        "proxy_headers": False,
        "access_log": False,
        "server_header": False,
        "timeout_graceful_shutdown": 20,
        "timeout_worker_healthcheck": 30,
        "log_config": None,
        "log_level": "info",
    }


def test_serve_listens_on_all_interfaces_in_production(
    uvicorn_calls: list[dict[str, Any]], tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path}/x.db"
    assert invoke(url, "serve", ENVIRONMENT="production").exit_code == 0
    assert uvicorn_calls[0]["host"] == "0.0.0.0"


def test_serve_options_override_the_environment(
    uvicorn_calls: list[dict[str, Any]], tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path}/x.db"
    args = ("serve", "--host", "0.0.0.0", "--port", "9000", "--workers", "2")
    assert invoke(url, *args, PORT="8123", WEB_CONCURRENCY="3").exit_code == 0
    assert {k: uvicorn_calls[0][k] for k in ("host", "port", "workers")} == {
        "host": "0.0.0.0",
        "port": 9000,
        "workers": 2,
    }


@pytest.mark.parametrize("args", [("--port", "0"), ("--port", "70000"), ("--workers", "0")])
def test_serve_rejects_impossible_numbers(
    uvicorn_calls: list[dict[str, Any]], tmp_path: Path, args: tuple[str, str]
) -> None:
    assert invoke(f"sqlite:///{tmp_path}/x.db", "serve", *args).exit_code == 2
    assert uvicorn_calls == []


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_healthy(base_url: str, server: subprocess.Popen[str]) -> httpx.Response:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert server.poll() is None, "the server exited early"
        try:
            return httpx.get(f"{base_url}/readyz", timeout=2)
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError("the server did not answer within 30 s")


def test_serve_answers_then_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    env = cli_env(DATABASE_URL=f"sqlite:///{tmp_path}/serve.db", SECRET_KEY=TEST_SECRET_KEY)
    assert run_backoffice("migrate", env=env, cwd=tmp_path).returncode == 0
    port = _free_port()
    server = subprocess.Popen(
        [str(BACKOFFICE), "serve", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        response = _wait_until_healthy(f"http://127.0.0.1:{port}", server)
        assert response.status_code == 200, response.text
        assert "server" not in response.headers
        server.send_signal(signal.SIGTERM)
        stdout, stderr = server.communicate(timeout=25)
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate()
    # uvicorn finishes its graceful shutdown, then re-raises SIGTERM on itself.
    assert server.returncode in (0, -signal.SIGTERM), stderr
    assert "Application shutdown complete" in stdout
    assert "Traceback" not in stdout + stderr


def test_serve_refuses_a_pool_over_the_connection_limit() -> None:
    """(pool + overflow) × workers above DB_CONNECTION_LIMIT stops start-up with one line."""
    from typer.testing import CliRunner

    from app.ops.cli import cli

    result = CliRunner().invoke(
        cli,
        ["serve", "--workers", "3"],
        env={
            "DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/nothing",
            "ENVIRONMENT": "test",
            "DB_POOL_SIZE": "5",
            "DB_MAX_OVERFLOW": "5",
            "DB_CONNECTION_LIMIT": "20",
        },
    )
    assert result.exit_code == 2
    assert "30 connections, over DB_CONNECTION_LIMIT 20" in result.output
