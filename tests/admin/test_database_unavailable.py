"""The admin when the database cannot serve (SPEC §6, issue 19): every page answers 503 with
Retry-After and a message page in the admin's look (never a 500, a traceback or SQL), a
refused form changed nothing, and a write that clashed with another transaction is run
again by the retry middleware, so the user sees the 503 page only when the retries are spent.

The database really goes away here: the app reaches PostgreSQL through a relay the test
cuts (tests/admin/database_gate.py), and the clash is a real row lock held by another
connection, with a short `lock_timeout` on the app's connections.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.pool import NullPool

from app.infra.db import Database, create_engine, normalize_database_url
from app.infra.db_errors import sqlstate
from app.infra.migrations import upgrade_engine
from app.main import create_app
from app.models import AuditEvent, Product
from tests.admin.admin_world import Call, World, database_state, make_world, page_token
from tests.admin.database_gate import DatabaseGate
from tests.auth_helpers import admin_csrf, admin_login, client_for
from tests.conftest import (
    NO_POSTGRES_REASON,
    create_postgres_database,
    drop_postgres_database,
    postgres_server_url,
)
from tests.conftest import test_settings as settings_for
from tests.factories import DEFAULT_PASSWORD, make_user

pytestmark = pytest.mark.postgres

# Short, so that a lock held by the test is a lock wait that times out (55P03) quickly.
LOCK_TIMEOUT_MS = 250
UNAVAILABLE_TEXT = "The database is unavailable; try again in a moment."
# What must never reach a browser: a traceback, SQL, the driver's or the ORM's words.
LEAKS = re.compile(r"Traceback|SELECT |INSERT |UPDATE |sqlalchemy|asyncpg|psycopg", re.I)

PRODUCT_EDIT = {"sku": "EDIT-{product}", "name": "Edited", "price": "3.50", "stock": "5"}
# Every kind of admin page, as a logged-in browser would ask for it.
PAGES: dict[str, Call] = {
    "dashboard": Call("GET", "/admin/"),
    "list": Call("GET", "/admin/product/list"),
    "list searched": Call("GET", "/admin/customer/list?search=Customer"),
    "details": Call("GET", "/admin/order/details/{draft}"),
    "edit form": Call("GET", "/admin/product/edit/{product}"),
    "create form": Call("GET", "/admin/order/create"),
    "account": Call("GET", "/admin/account"),
    "import": Call("GET", "/admin/product-import"),
    "audit list": Call("GET", "/admin/audit-event/list"),
}
# Every shape of admin write: sqladmin's create and edit, bulk delete, actions (a form
# and a GET link), a custom form, the account page, the import upload, logout.
WRITES: dict[str, Call] = {
    "create": Call("POST", "/admin/customer/create", {"name": "New", "email": "n@example.com"}),
    "edit": Call("POST", "/admin/product/edit/{product}", PRODUCT_EDIT | {"version": "1"}),
    "delete": Call("DELETE", "/admin/customer/delete?pks={customer}"),
    "action": Call("POST", "/admin/order/action/place?pks={draft}"),
    "action link": Call("GET", "/admin/order/action/cancel?pks={draft}"),
    "order items": Call(
        "POST", "/admin/order/{draft}/items", {"op": "update", "item_id": "{item}", "quantity": "3"}
    ),
    "account": Call("POST", "/admin/account", {"op": "create-token", "name": "script"}),
    "import": Call("POST", "/admin/product-import", {"mode": "apply"}, upload=True),
    "logout": Call("POST", "/admin/logout", {}),
}


@pytest.fixture(scope="module")
async def own_database() -> AsyncIterator[str]:
    """A migrated database of this module's own: its connections really break here."""
    server = postgres_server_url()
    if server is None:
        pytest.skip(NO_POSTGRES_REASON)
    name = f"bo_outage_{uuid.uuid4().hex[:10]}"
    url = await create_postgres_database(server, name)
    engine = create_engine(settings_for(url), poolclass=NullPool)
    try:
        await upgrade_engine(engine)
        yield url
    finally:
        await engine.dispose()
        await drop_postgres_database(server, name)


@dataclass
class Site:
    """The app (reaching the database through `gate`) and a direct line to the truth."""

    app: FastAPI
    gate: DatabaseGate
    engine: AsyncEngine  # the app's
    direct: AsyncEngine  # bypasses the gate: what the database really holds

    async def state(self) -> dict[str, list[str]]:
        async with AsyncSession(self.direct) as session:
            return await database_state(session)


@pytest.fixture
async def site(own_database: str) -> AsyncIterator[Site]:
    real = make_url(own_database)
    gate = DatabaseGate(real.host or "127.0.0.1", real.port or 5432)
    gate.open()
    gated = real.set(host="127.0.0.1", port=gate.port).render_as_string(hide_password=False)
    # An hour's window: the sliding window weighs the last window's hits down as the next
    # begins, so a count read across a minute's edge (a slow machine) would read low.
    settings = settings_for(gated, rate_limit_login="10/hour")
    # The app's own connection options, with a short lock timeout.
    _, connect_args = normalize_database_url(gated)
    server_settings = connect_args.get("server_settings", {})
    connect_args["server_settings"] = server_settings | {"lock_timeout": f"{LOCK_TIMEOUT_MS}ms"}
    database = Database.from_engine(create_engine(settings, connect_args=connect_args))
    app = create_app(settings, database)
    direct = create_engine(settings_for(own_database), poolclass=NullPool)
    try:
        yield Site(app, gate, database.engine, direct)
    finally:
        await gate.close()
        await database.dispose()
        await direct.dispose()
        await app.state.rate_limiter.close()


@pytest.fixture
async def logged_in(site: Site) -> AsyncIterator[tuple[httpx.AsyncClient, World]]:
    """An admin logged in through the form while the database was up, and their rows."""
    async with AsyncSession(site.direct, expire_on_commit=False) as session:
        me = await make_user(session, role="admin")
        world = await make_world(session, me, site.app.state.settings)
        await session.commit()
    async with client_for(site.app) as browser:
        assert (await admin_login(browser, me.email)).status_code == 302
        yield browser, world


def assert_unavailable_page(response: httpx.Response, text: str = UNAVAILABLE_TEXT) -> None:
    """503, Retry-After, and the admin's HTML message page (no traceback, no SQL)."""
    assert response.status_code == 503, response.text[:500]
    assert int(response.headers["retry-after"]) >= 1
    assert response.headers["content-type"].startswith("text/html")
    assert text in response.text
    assert 'class="bo-error"' in response.text  # the admin's error page, not sqladmin's
    assert not LEAKS.search(response.text), LEAKS.search(response.text)


@contextmanager
def just_before(
    site: Site, prefix: str | tuple[str, ...], then: Callable[[], None]
) -> Iterator[list[str]]:
    """Run `then` just before the app's first statement starting with `prefix` (or one of
    them) is sent; yields the list that then holds that statement (empty: it never came)."""
    fired: list[str] = []
    prefixes = tuple(p.upper() for p in ((prefix,) if isinstance(prefix, str) else prefix))

    def hook(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if not fired and statement.lstrip().upper().startswith(prefixes):
            fired.append(statement)
            then()

    event.listen(site.engine.sync_engine, "before_cursor_execute", hook)
    try:
        yield fired
    finally:
        event.remove(site.engine.sync_engine, "before_cursor_execute", hook)


def errors_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR]


async def audit_count(site: Site, action: str) -> int:
    async with AsyncSession(site.direct) as session:
        statement = select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action)
        return int(await session.scalar(statement) or 0)


# --- the database is down ------------------------------------------------------------------


async def test_every_admin_page_and_form_is_a_503_page_while_the_database_is_down(
    site: Site, logged_in: tuple[httpx.AsyncClient, World], caplog: pytest.LogCaptureFixture
) -> None:
    browser, world = logged_in
    token = await page_token(browser)
    before = await site.state()

    site.gate.cut()
    calls = {**PAGES, **{f"{name} (write)": call for name, call in WRITES.items()}}
    responses = await asyncio.gather(*(call.send(browser, world, token) for call in calls.values()))

    for name, response in zip(calls, responses, strict=True):
        try:
            assert_unavailable_page(response)
        except AssertionError as failure:
            raise AssertionError(f"{name}: {failure}") from None
    # Answered, not crashed: no traceback in the log, nothing raised past the response.
    assert errors_logged(caplog) == []
    site.gate.open()
    assert await site.state() == before
    # The outage cost the user nothing: the same browser is still logged in.
    assert (await browser.get("/admin/")).status_code == 200


async def test_logging_in_while_the_database_is_down_is_a_503_page(site: Site) -> None:
    async with AsyncSession(site.direct, expire_on_commit=False) as session:
        user = await make_user(session, role="viewer")
        await session.commit()
    async with client_for(site.app) as stranger:
        token = await admin_csrf(stranger)  # the login page itself needs no database
        site.gate.cut()
        response = await stranger.post(
            "/admin/login",
            data={"username": user.email, "password": DEFAULT_PASSWORD, "csrf_token": token},
        )
        assert_unavailable_page(response)
        site.gate.open()
        assert (await stranger.get("/admin/")).headers.get("location", "").endswith("/login")
        # Once it is back, the same form (the same CSRF token) logs in.
        retried = await stranger.post(
            "/admin/login",
            data={"username": user.email, "password": DEFAULT_PASSWORD, "csrf_token": token},
        )
        assert retried.status_code == 302, retried.text[:300]


async def test_a_login_run_again_after_a_restart_counts_once_toward_the_throttle(
    site: Site,
) -> None:
    async with AsyncSession(site.direct, expire_on_commit=False) as session:
        user = await make_user(session, role="viewer")
        await session.commit()
    async with client_for(site.app) as stranger:
        token = await admin_csrf(stranger)
        form = {"username": user.email, "password": DEFAULT_PASSWORD, "csrf_token": token}
        # The login's first statement looks the account up: the server restarts just then.
        with just_before(site, "SELECT users", site.gate.restart) as restarted:
            response = await stranger.post("/admin/login", data=form)

        assert restarted
        assert response.status_code == 302, response.text[:300]
        assert (await stranger.get("/admin/")).status_code == 200
    # This account's attempts so far: the login (once, though it ran twice) and this probe.
    rate = site.app.state.settings.rate_limit_login
    probe = await site.app.state.rate_limiter.hit(rate, "login-account", user.email.lower())
    assert probe.remaining == probe.limit - 2


# Statements to lose the database at: after the login check has read the session, while
# the write's own transaction is under way.
MIDWAY: dict[str, str | tuple[str, ...]] = {
    "edit": "UPDATE products",
    "create": "INSERT INTO customers",
    "delete": "DELETE FROM customers",
    # The audit row goes with the order's event: one statement of CTEs on PostgreSQL
    # (app/webhooks/outbox.py), a plain INSERT first on SQLite.
    "action": ("WITH audit AS", "INSERT INTO audit_events"),
    "order items": "UPDATE order_items",
    "account": "INSERT INTO api_tokens",
    "import": "INSERT INTO products",
}


@pytest.mark.parametrize("write", list(MIDWAY))
async def test_a_write_that_loses_the_database_midway_is_a_503_page_and_changed_nothing(
    site: Site,
    logged_in: tuple[httpx.AsyncClient, World],
    write: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    browser, world = logged_in
    token = await page_token(browser)
    before = await site.state()
    prefix = MIDWAY[write]
    try:
        with just_before(site, prefix, site.gate.cut) as cut:
            response = await WRITES[write].send(browser, world, token)
    finally:
        site.gate.open()

    assert cut, f"no statement starting {prefix!r} was sent"
    assert_unavailable_page(response)
    assert await site.state() == before
    assert errors_logged(caplog) == []


# --- a blip: the request is run again ------------------------------------------------------


async def test_a_restart_during_a_request_is_run_again_without_repeating_its_message(
    site: Site, logged_in: tuple[httpx.AsyncClient, World]
) -> None:
    """The first run adds its message, then loses the database while drawing the page; the
    re-run must show the message once, not once per run (request state is per run)."""
    browser, world = logged_in
    token = await page_token(browser)
    form = {"op": "password", "current_password": DEFAULT_PASSWORD, "new_password": "a" * 20}
    form |= {"confirm_password": "b" * 20}
    # The page's token list is read only while drawing the page, after the refusal.
    with just_before(site, "SELECT api_tokens", site.gate.restart) as restarted:
        response = await Call("POST", "/admin/account", form).send(browser, world, token)

    assert restarted
    assert response.status_code == 400, response.text[:500]
    assert response.text.count("The two new passwords differ.") == 1


async def test_an_upload_cut_off_by_a_restart_is_run_again_from_the_same_body(
    site: Site, logged_in: tuple[httpx.AsyncClient, World]
) -> None:
    """The import's body is read (and its CSRF token checked) when the handler asks for
    it: on the re-run that is the body the retry middleware kept, and it is imported once."""
    browser, world = logged_in
    token = await page_token(browser)
    with just_before(site, "INSERT INTO products", site.gate.restart) as restarted:
        response = await WRITES["import"].send(browser, world, token)

    assert restarted
    assert response.status_code == 200, response.text[:500]
    assert "Imported 1 row(s): 1 created, 0 updated" in response.text
    assert await audit_count(site, "product.imported") == 1


async def test_a_write_whose_lock_wait_times_out_once_is_run_again_and_saved_once(
    site: Site, logged_in: tuple[httpx.AsyncClient, World]
) -> None:
    browser, world = logged_in
    token = await page_token(browser)
    timeouts: list[str] = []
    released = asyncio.Event()

    def on_error(context: Any) -> None:
        if sqlstate(context.original_exception) == "55P03":
            timeouts.append(str(context.statement))
            released.set()

    async with site.direct.connect() as holder:
        await holder.execute(
            text("SELECT id FROM products WHERE id = :id FOR UPDATE"), {"id": world.product}
        )

        async def release_after_the_first_timeout() -> None:
            await released.wait()
            await holder.rollback()

        releasing = asyncio.create_task(release_after_the_first_timeout())
        event.listen(site.engine.sync_engine, "handle_error", on_error)
        try:
            response = await WRITES["edit"].send(browser, world, token)
        finally:
            event.remove(site.engine.sync_engine, "handle_error", on_error)
            released.set()
            await releasing

    # The user saw the save succeed (the CSRF token and the session held on the re-run) ...
    assert response.status_code == 302, response.text[:500]
    assert len(timeouts) == 1 and "products" in timeouts[0]
    async with AsyncSession(site.direct) as session:
        product = await session.get(Product, world.product)
    # ... and it was saved once.
    assert product is not None and product.name == "Edited" and product.version == 2
    assert await audit_count(site, "product.updated") == 1
    assert (await browser.get(response.headers["location"])).status_code == 200


async def test_a_write_whose_lock_never_frees_is_a_503_page_once_the_retries_are_spent(
    site: Site, logged_in: tuple[httpx.AsyncClient, World], caplog: pytest.LogCaptureFixture
) -> None:
    browser, world = logged_in
    token = await page_token(browser)
    timeouts: list[str] = []

    def on_error(context: Any) -> None:
        if sqlstate(context.original_exception) == "55P03":
            timeouts.append(str(context.statement))

    before = await site.state()
    async with site.direct.connect() as holder:
        await holder.execute(
            text("SELECT id FROM products WHERE id = :id FOR UPDATE"), {"id": world.product}
        )
        event.listen(site.engine.sync_engine, "handle_error", on_error)
        try:
            response = await WRITES["edit"].send(browser, world, token)
        finally:
            event.remove(site.engine.sync_engine, "handle_error", on_error)
            await holder.rollback()

    assert_unavailable_page(response, "too busy with changes made at the same moment")
    assert len(timeouts) >= 2  # run again before giving up
    assert await site.state() == before
    assert errors_logged(caplog) == []
