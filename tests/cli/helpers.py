"""Helpers for CLI tests: run the command in-process or as a process; look into the database."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.pool import NullPool
from typer.testing import CliRunner, Result

from app.infra.db import create_engine
from app.ops.cli import cli
from tests.conftest import TEST_SECRET_KEY
from tests.conftest import test_settings as settings_for

T = TypeVar("T")
# The console script installed next to this interpreter (.venv/bin/backoffice).
BACKOFFICE = Path(sys.executable).with_name("backoffice")
STRONG_PASSWORD = "plum-orbit-kettle-42"
_PASSED_THROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")


def invoke(database_url: str, *args: str, input: str | None = None, **env: str | None) -> Result:
    """Run `backoffice <args>` in this process against `database_url`; None unsets a variable."""
    environment: dict[str, str | None] = {
        "DATABASE_URL": database_url,
        "SECRET_KEY": TEST_SECRET_KEY,
        "ENVIRONMENT": "test",
        **env,
    }
    return CliRunner().invoke(cli, list(args), input=input, env=environment, catch_exceptions=False)


def cli_env(**values: str | None) -> dict[str, str]:
    """A clean environment for a real `backoffice` process; a None value leaves a variable out."""
    env = {name: os.environ[name] for name in _PASSED_THROUGH if name in os.environ}
    env |= {"ENVIRONMENT": "test", "SECRET_KEY": TEST_SECRET_KEY}
    merged: dict[str, str | None] = {**env, **values}
    return {name: value for name, value in merged.items() if value is not None}


def run_backoffice(
    *args: str, env: Mapping[str, str], cwd: Path, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the installed console script as a separate process, in `cwd` (no stray .env)."""
    return subprocess.run(
        [str(BACKOFFICE), *args],
        env=dict(env),
        input=input,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        check=False,
    )


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def in_database(database_url: str, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run `work` in a session of its own (the CLI committed; so do we not)."""

    async def run() -> T:
        engine = create_engine(settings_for(database_url), poolclass=NullPool)
        try:
            async with AsyncSession(engine, expire_on_commit=False) as session:
                return await work(session)
        finally:
            await engine.dispose()

    return asyncio.run(run())
