"""The installed wheel is the product (SPEC §13): migrate, serve, work, from another directory.

Built once per run (sdist, then the wheel from it) and installed into fresh virtual
environments outside the checkout, twice: at the versions requirements.txt pins (what
Heroku installs) and at the floors pyproject.toml declares (so they are true). Each one
is then deployed on PostgreSQL when TEST_DATABASE_URL is set (SQLite otherwise) and driven
through the console script, the web server and the webhook worker.
"""

from __future__ import annotations

import importlib.util
import re
import secrets
import signal
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import ModuleType

import httpx
import pytest
from sqlalchemy.engine import make_url

from tests.artifact.deployment import (
    ROOT,
    Installation,
    build_wheel,
    clean_env,
    free_port,
    install,
    started,
    wait_for_http,
    wait_for_output,
)
from tests.conftest import create_postgres_database, drop_postgres_database, postgres_server_url

pytestmark = pytest.mark.artifact

ADMIN_EMAIL = "ops@example.com"
ADMIN_PASSWORD = "harbor-violet-engine-73"
STYLESHEET = re.compile(r'<link[^>]+rel="stylesheet"[^>]+href="(/static/[^"]+\.css)"')
SCRIPT = re.compile(r'<script[^>]+src="(/static/[^"]+\.js)"')
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _pin_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "pin_requirements", ROOT / "scripts/pin_requirements.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _constraints(kind: str, directory: Path) -> Path:
    """requirements.txt's pins without the project line, or every runtime dependency's floor."""
    path = directory / f"{kind}.txt"
    if kind == "pinned":
        lines = (ROOT / "requirements.txt").read_text().splitlines()
        path.write_text("\n".join(line for line in lines if line.strip() != ".") + "\n")
    else:
        path.write_text(_pin_module().floor_constraints())
    return path


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_wheel(tmp_path_factory.mktemp("build"))


@pytest.fixture(scope="module", params=["pinned", "floors"])
async def deployment(
    request: pytest.FixtureRequest, wheel: Path, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Installation]:
    """The wheel installed with one constraints file, set up for production on a new database."""
    kind = request.param
    base = tmp_path_factory.mktemp(f"deploy-{kind}")
    cwd = base / "elsewhere"
    cwd.mkdir()
    installation = install(wheel, _constraints(kind, base), base / "venv", cwd)
    server = postgres_server_url()
    name = f"artifact_{kind}_{uuid.uuid4().hex[:8]}"
    if server:
        url = make_url(await create_postgres_database(server, name))
        # Heroku's spelling of the URL, as a real deploy receives it.
        database_url = url.set(drivername="postgres").render_as_string(hide_password=False)
    else:
        database_url = f"sqlite+aiosqlite:///{base / 'backoffice.db'}"
    installation.env = clean_env(
        ENVIRONMENT="production",
        DATABASE_URL=database_url,
        SECRET_KEY=secrets.token_urlsafe(48),
        LOG_FORMAT="console",
    )
    try:
        yield installation
    finally:
        if server:
            await drop_postgres_database(server, name)


def test_the_installed_package_is_not_the_checkout(deployment: Installation) -> None:
    where = deployment.python(
        "import app, app.resources as r; print(app.__file__); print(r.resource_dir('static'))"
    )
    for line in where.splitlines():
        assert Path(line).is_relative_to(deployment.site_packages), where
        assert not Path(line).resolve().is_relative_to(ROOT), where


def test_version_is_the_wheels_and_h_is_help(deployment: Installation, wheel: Path) -> None:
    """`--version` reads the installed distribution's metadata, not a file of the checkout."""
    version = wheel.name.split("-")[1]  # backoffice-<version>-py3-none-any.whl
    assert deployment.must("--version") == f"backoffice {version}\n"
    assert "Usage: backoffice serve" in deployment.must("serve", "-h")


@pytest.fixture(scope="module")
def provisioned(deployment: Installation) -> dict[str, str]:
    """What the release phase and an operator run first: migrate (twice), a user, a token."""
    return {
        # The release phase runs on every deploy: migrating must be idempotent.
        "first migrate": deployment.must("migrate"),
        "second migrate": deployment.must("migrate"),
        "create-user": deployment.must(
            "create-user",
            "--email",
            ADMIN_EMAIL,
            "--role",
            "admin",
            "--password-stdin",
            input=ADMIN_PASSWORD + "\n",
        ),
        "token": deployment.must("create-token", "--email", ADMIN_EMAIL, "--name", "artifact"),
    }


def test_migrate_twice_then_create_a_user_and_a_token(provisioned: dict[str, str]) -> None:
    assert provisioned["first migrate"].startswith("database at head")
    assert provisioned["second migrate"] == provisioned["first migrate"]
    assert ADMIN_EMAIL in provisioned["create-user"]
    token = provisioned["token"]
    assert token.startswith("bo_") and token.endswith("\n") and token.count("\n") == 1


@pytest.fixture(scope="module")
def server(deployment: Installation, provisioned: dict[str, str]) -> Iterator[str]:
    """`backoffice serve` on a free loopback port; its base URL. Stopped (and checked) after."""
    port = free_port()
    with started(deployment, "serve", "--host", "127.0.0.1", "--port", str(port)) as running:
        base = f"http://127.0.0.1:{port}"
        wait_for_http(running, f"{base}/healthz")
        yield base
        status = running.stop()
        # uvicorn finishes its graceful shutdown, then re-raises SIGTERM on itself.
        if status not in (0, -signal.SIGTERM) or "Application shutdown complete" not in (
            running.output()
        ):
            raise running.fail(f"serve exited {status} after SIGTERM")


def test_admin_login_page_and_its_stylesheet(server: str) -> None:
    with httpx.Client(base_url=server) as client:
        page = client.get("/admin/login")
        assert page.status_code == 200, page.text
        stylesheets = STYLESHEET.findall(page.text)
        assert stylesheets, page.text
        for href in stylesheets:
            css = client.get(href)
            assert css.status_code == 200, href
            assert css.headers["content-type"].startswith("text/css")


def test_api_docs_and_their_scripts(server: str) -> None:
    with httpx.Client(base_url=server) as client:
        docs = client.get("/docs")
        assert docs.status_code == 200
        scripts = SCRIPT.findall(docs.text)
        assert scripts, docs.text
        for src in scripts:
            assert client.get(src).status_code == 200, src
        assert client.get("/openapi.json").json()["openapi"].startswith("3.1")


def test_ready_means_the_packaged_migrations_are_applied(server: str) -> None:
    ready = httpx.get(f"{server}/readyz")
    assert ready.status_code == 200, ready.text


def test_api_with_the_cli_token(server: str, provisioned: dict[str, str]) -> None:
    headers = {"Authorization": f"Bearer {provisioned['token'].strip()}"}
    with httpx.Client(base_url=f"{server}/api/v1", headers=headers) as api:
        me = api.get("/me")
        assert me.status_code == 200, me.text
        assert me.json()["email"] == ADMIN_EMAIL
        product = api.post(
            "/products",
            json={"sku": "ART-001", "name": "Artifact", "price": "12.50", "stock": 3},
            headers={"Idempotency-Key": "artifact-product"},
        )
        assert product.status_code == 201, product.text
        customer = api.post("/customers", json={"name": "Ada", "email": "ada@example.com"})
        assert customer.status_code == 201, customer.text
        order = api.post(
            "/orders",
            json={
                "customer_id": customer.json()["id"],
                "items": [{"product_id": product.json()["id"], "quantity": 2}],
            },
        )
        assert order.status_code == 201, order.text
        placed = api.post(f"/orders/{order.json()['id']}/place")
        assert placed.status_code == 200, placed.text
        assert placed.json()["status"] == "placed" and placed.json()["total"] == "25.00"
        page = api.get("/products", params={"limit": 1, "q": "ART"})
        assert [row["stock"] for row in page.json()["items"]] == [1]


def test_admin_sign_in_and_a_list_page(server: str) -> None:
    # Production cookies are Secure and __Host-; over plain HTTP on loopback the client
    # carries the cookie by hand, as the browser would over HTTPS.
    with httpx.Client(base_url=server) as client:
        login = client.get("/admin/login")
        cookie = login.headers["set-cookie"].split(";", 1)[0]
        [token] = CSRF.findall(login.text)
        signed_in = client.post(
            "/admin/login",
            data={"csrf_token": token, "username": ADMIN_EMAIL, "password": ADMIN_PASSWORD},
            headers={"Cookie": cookie, "Origin": server},
        )
        assert signed_in.status_code == 302, signed_in.text
        session = signed_in.headers["set-cookie"].split(";", 1)[0]
        listing = client.get("/admin/product/list", headers={"Cookie": session})
        assert listing.status_code == 200, listing.text
        assert "ART-001" in listing.text


def test_worker_starts_and_stops_on_sigterm(deployment: Installation) -> None:
    with started(deployment, "worker") as worker:
        wait_for_output(worker, "worker started")
        assert worker.stop() == 0, worker.output()
        assert "worker stopped" in worker.output()


@pytest.mark.parametrize(
    ("folder", "command"),
    [("alembic", "migrate"), ("templates", "serve"), ("static", "serve")],
)
def test_a_missing_packaged_folder_is_one_line(
    deployment: Installation, folder: str, command: str
) -> None:
    packaged = deployment.site_packages / "app" / "resources" / folder
    hidden = packaged.with_name(f"{folder}.moved")
    packaged.rename(hidden)
    try:
        result = deployment.run(
            command, *(["--port", str(free_port())] if command == "serve" else [])
        )
    finally:
        hidden.rename(packaged)
    assert result.returncode == 1
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("error: ") and f"no {folder}/ folder" in line
    assert "Traceback" not in result.stderr
