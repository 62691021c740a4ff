"""Browser test fixtures: a real uvicorn server on a throwaway database, and Chromium.

The server runs in a subprocess (its own event loop, as in production) against a database
migrated and seeded here: a new PostgreSQL database on TEST_DATABASE_URL's server when it
is set (as in CI), else a SQLite file. Playwright's sync API drives Debian's
/usr/bin/chromium; nothing is downloaded. Everything lives for one module, so Playwright's
event loop is gone before any async test of another module runs in the same worker.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
import pytest

from app.infra.db import Database, create_engine
from app.infra.migrations import upgrade_engine
from app.infra.settings import load_settings
from tests.conftest import (
    create_postgres_database,
    drop_postgres_database,
    postgres_server_url,
)
from tests.factories import DEFAULT_PASSWORD, make_customer, make_product, make_user

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page, Playwright

T = TypeVar("T")
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
PROJECT_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = PROJECT_ROOT / "test-output" / "screenshots"
VIEWPORT = {"width": 1280, "height": 800}
SECRET_KEY = "e2e-secret-key-" + "y" * 40
STARTUP_SECONDS = 30
# Generous for a loaded CI machine; a passing run never waits this long.
ACTION_TIMEOUT_MS = 10_000

try:
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover - depends on the environment
    sync_playwright = None  # type: ignore[assignment]


def browser_missing_reason() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if sync_playwright is None:
        return "Playwright for Python is not installed (pip install -e '.[dev]')"
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (apt-get install chromium); no browser is downloaded"
    return None


@dataclass(frozen=True)
class Staff:
    email: str
    role: str
    password: str = DEFAULT_PASSWORD


@dataclass
class Seeded:
    """The ids of the customers and products the throwaway database starts with."""

    customers: dict[str, int] = field(default_factory=dict)
    products: dict[str, int] = field(default_factory=dict)


STAFF = {
    role: Staff(email=f"{role}@e2e.example.com", role=role)
    for role in ("admin", "manager", "clerk", "viewer")
}


async def _seed(database_url: str) -> Seeded:
    """Migrate the empty database and add staff, customers and products (committed)."""
    settings = load_settings(environment="test", database_url=database_url, secret_key=SECRET_KEY)
    engine = create_engine(settings)
    seeded = Seeded()
    try:
        await upgrade_engine(engine)
        database = Database.from_engine(engine)
        async with database.sessionmaker() as session:
            for staff in STAFF.values():
                await make_user(session, role=staff.role, email=staff.email, full_name=staff.role)
            for name, company in [("Ada Lovelace", "Analytical Ltd"), ("Grace Hopper", "COBOL Co")]:
                customer = await make_customer(
                    session,
                    name=name,
                    company=company,
                    email=f"{name.split()[0].lower()}@e2e.example.com",
                )
                seeded.customers[name] = customer.id
            catalogue = [
                ("GEAR-100", "Brass gear", Decimal("12.50"), 40),
                ("GEAR-200", "Steel gear", Decimal("19.90"), 25),
                ("LAMP-300", "Desk lamp", Decimal("45.00"), 12),
                ("CABLE-400", "Punch-card cable", Decimal("3.20"), 3),
            ]
            for sku, name, price, stock in catalogue:
                product = await make_product(
                    session, sku=sku, name=name, price=price, stock=stock, reorder_level=5
                )
                seeded.products[sku] = product.id
            await session.commit()
    finally:
        await engine.dispose()
    return seeded


def run_in_thread(coroutine: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion in a thread of its own (never on pytest's loop)."""
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["value"] = asyncio.run(coroutine())
        except BaseException as exc:  # re-raised in the caller's thread
            result["error"] = exc

    thread = threading.Thread(target=target, name="e2e-seed")
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    value: T = result["value"]
    return value


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class LiveServer:
    url: str
    seeded: Seeded
    log: Path

    def log_tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def _wait_until_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the server did not become ready in {STARTUP_SECONDS}s:\n{log.read_text()}")


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """uvicorn serving create_app() on a free port, over a migrated and seeded database."""
    reason = browser_missing_reason()
    if reason:
        pytest.skip(reason)
    folder = tmp_path_factory.mktemp("e2e")
    server_url = postgres_server_url()
    database_name = f"backoffice_e2e_{os.getpid()}_{secrets.token_hex(4)}"
    if server_url:
        database_url = run_in_thread(lambda: create_postgres_database(server_url, database_name))
    else:
        database_url = f"sqlite+aiosqlite:///{folder / 'backoffice.db'}"
    try:
        yield from _serve(folder, database_url)
    finally:
        if server_url:
            run_in_thread(lambda: drop_postgres_database(server_url, database_name))


def _serve(folder: Path, database_url: str) -> Iterator[LiveServer]:
    seeded = run_in_thread(lambda: _seed(database_url))
    port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PYTEST", "DATABASE_URL", "REDIS_URL"))
    }
    env.update(
        ENVIRONMENT="test",
        DATABASE_URL=database_url,
        SECRET_KEY=SECRET_KEY,
        # Each test logs in a few times; the login limit itself is tested over HTTP.
        RATE_LIMIT_LOGIN="1000/minute",
        LOG_LEVEL="WARNING",
    )
    log = folder / "server.log"
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "app.main:create_app",
        "--factory",
        "--app-dir",
        str(PROJECT_ROOT),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-access-log",
    ]
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, cwd=folder, env=env, stdout=output, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_ready(url, process, log)
        yield LiveServer(url=url, seeded=seeded, log=log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def playwright(live_server: LiveServer) -> Iterator[Playwright]:
    assert sync_playwright is not None
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(
        executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
    )
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture(scope="module")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


@pytest.fixture
def new_context(
    browser: Browser, live_server: LiveServer
) -> Iterator[Callable[[], BrowserContext]]:
    """Open fresh browser contexts (separate cookie jars: separate people); closed afterwards."""
    opened: list[BrowserContext] = []

    def open_() -> BrowserContext:
        context = browser.new_context(base_url=live_server.url, viewport=VIEWPORT)  # type: ignore[arg-type]
        context.set_default_timeout(ACTION_TIMEOUT_MS)
        opened.append(context)
        return context

    yield open_
    for context in opened:
        context.close()


@pytest.fixture
def page(new_context: Callable[[], BrowserContext]) -> Page:
    """A page in a fresh context."""
    return new_context().new_page()
