"""Errors as RFC 9457 problem+json, request ids and security headers (SPEC §6, §10)."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.api.deps import SessionDep
from app.edge.middleware import accept_request_id
from app.infra.db import Database
from app.infra.settings import load_settings
from app.main import create_app
from app.models import Product
from tests.conftest import TEST_SECRET_KEY, url_of
from tests.factories import make_product

PROBLEM_KEYS = {"type", "title", "status", "detail", "instance", "request_id"}
LEAK_MARKERS = ("Traceback", "RuntimeError", "secret", "SELECT", "password_hash", 'File "')


class EchoIn(BaseModel):
    name: str = Field(min_length=1)
    quantity: int = Field(gt=0)


def add_echo_route(app: FastAPI) -> None:
    @app.post("/api/v1/_test/echo")
    async def echo(body: EchoIn) -> EchoIn:
        return body


def add_crashing_route(app: FastAPI) -> None:
    @app.get("/api/v1/_test/boom")
    async def boom() -> None:
        raise RuntimeError("secret SQL SELECT password_hash FROM users")


def assert_problem(response: httpx.Response, status: int) -> dict[str, object]:
    """The response is a complete problem document for `status`; returns its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, object] = response.json()
    assert set(body) >= PROBLEM_KEYS
    assert body["status"] == status
    assert body["instance"] == response.request.url.path
    assert body["request_id"] == response.headers["x-request-id"]
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    return body


# --- problem documents ---------------------------------------------------------------------


async def test_unknown_path_is_a_404_problem(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/api/v1/no-such-thing"), 404)


async def test_wrong_method_is_a_405_problem_with_allow(client: httpx.AsyncClient) -> None:
    response = await client.post("/healthz")

    assert_problem(response, 405)
    assert "GET" in response.headers["allow"]


async def test_invalid_fields_are_a_422_problem_listing_each_error(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    add_echo_route(app)

    response = await client.post("/api/v1/_test/echo", json={"name": "", "quantity": "many"})

    body = assert_problem(response, 422)
    errors = body["errors"]
    assert isinstance(errors, list)
    assert {tuple(error["loc"]) for error in errors} == {("body", "name"), ("body", "quantity")}
    for error in errors:
        assert set(error) == {"loc", "message", "type"}
        assert error["message"] and error["type"]
    assert "many" not in response.text  # the input is not echoed back


async def test_missing_body_is_a_422_problem(app: FastAPI, client: httpx.AsyncClient) -> None:
    add_echo_route(app)

    body = assert_problem(await client.post("/api/v1/_test/echo", json={}), 422)

    assert {tuple(error["loc"]) for error in body["errors"]} == {  # type: ignore[attr-defined]
        ("body", "name"),
        ("body", "quantity"),
    }


async def test_malformed_json_is_a_400_problem(app: FastAPI, client: httpx.AsyncClient) -> None:
    add_echo_route(app)

    response = await client.post(
        "/api/v1/_test/echo",
        content=b'{"name": "x", "quantity": ',
        headers={"content-type": "application/json"},
    )

    body = assert_problem(response, 400)
    assert body["type"] == "/problems/bad-request"


async def test_unhandled_exception_is_a_500_problem_without_internals(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    add_crashing_route(app)

    response = await client.get("/api/v1/_test/boom", headers={"X-Request-ID": "crash-42"})

    body = assert_problem(response, 500)
    assert body["request_id"] == "crash-42"
    for marker in LEAK_MARKERS:
        assert marker not in response.text


async def test_failed_commit_is_a_409_problem_not_a_success(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    existing = await make_product(session)

    @app.post("/api/v1/_test/duplicate")
    async def duplicate(db: SessionDep) -> dict[str, str]:
        # No flush: the duplicate only hits the database when the boundary commits.
        db.add(Product(sku=existing.sku, name="Copy", price=Decimal("1.00")))
        return {"status": "saved"}

    response = await client.post("/api/v1/_test/duplicate")

    assert_problem(response, 409)
    assert "saved" not in response.text
    assert "uq_products_sku" not in response.text
    count = select(func.count()).select_from(Product).where(Product.sku == existing.sku)
    assert await session.scalar(count) == 1


# --- request ids ---------------------------------------------------------------------------


@pytest.mark.parametrize("request_id", ["abc-123", "req.2024:01/x+y=z@host_9", "r" * 128])
async def test_valid_request_id_is_echoed_in_header_and_problem(
    client: httpx.AsyncClient, request_id: str
) -> None:
    response = await client.get("/api/v1/no-such-thing", headers={"X-Request-ID": request_id})

    assert response.headers["x-request-id"] == request_id
    assert assert_problem(response, 404)["request_id"] == request_id


@pytest.mark.parametrize("request_id", ["r" * 129, "x" * 200, "<script>", "has space", "a;b"])
async def test_unsafe_request_id_is_replaced_by_a_fresh_one(
    client: httpx.AsyncClient, request_id: str
) -> None:
    response = await client.get("/api/v1/no-such-thing", headers={"X-Request-ID": request_id})

    fresh = response.headers["x-request-id"]
    assert fresh != request_id
    assert accept_request_id(fresh) == fresh
    assert assert_problem(response, 404)["request_id"] == fresh


async def test_request_without_id_gets_a_new_one_each_time(client: httpx.AsyncClient) -> None:
    first = (await client.get("/healthz")).headers["x-request-id"]
    second = (await client.get("/healthz")).headers["x-request-id"]

    assert first and second and first != second


@pytest.mark.parametrize("candidate", ["abc\n", "abc\r\nSet-Cookie: x=1", "\nabc", ""])
def test_request_id_with_a_line_break_or_empty_is_not_accepted(candidate: str) -> None:
    # ASGI servers refuse such headers already; the check must not rely on that.
    assert accept_request_id(candidate) != candidate


# --- security headers ----------------------------------------------------------------------


def assert_security_headers(response: httpx.Response) -> None:
    headers = response.headers
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "same-origin"
    assert headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in headers["content-security-policy"]


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/healthz", 200),
        ("GET", "/openapi.json", 200),
        ("GET", "/docs", 200),
        ("GET", "/api/v1/no-such-thing", 404),
        ("POST", "/healthz", 405),
        ("POST", "/api/v1/_test/echo", 422),
        ("GET", "/api/v1/_test/boom", 500),
    ],
)
async def test_security_headers_are_on_every_response(
    app: FastAPI, client: httpx.AsyncClient, method: str, path: str, status: int
) -> None:
    add_echo_route(app)
    add_crashing_route(app)

    response = await client.request(method, path, json={} if method == "POST" else None)

    assert response.status_code == status
    assert_security_headers(response)


async def test_authenticated_responses_are_not_cached(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz", headers={"Authorization": "Bearer not-a-token"})

    assert response.headers["cache-control"] == "no-store"


async def test_responses_with_a_session_cookie_are_not_cached(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz", headers={"Cookie": "bo_session=abc"})

    assert response.headers["cache-control"] == "no-store"


async def test_anonymous_responses_are_not_marked_no_store(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")

    assert "no-store" not in response.headers.get("cache-control", "")


async def test_hsts_is_absent_outside_production(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")

    assert "strict-transport-security" not in response.headers


@pytest.mark.parametrize(("path", "status"), [("/healthz", 200), ("/api/v1/_test/boom", 500)])
async def test_hsts_is_sent_in_production(
    engine: AsyncEngine, database: Database, path: str, status: int
) -> None:
    # Not conftest.test_settings(..., environment=...): it already passes `environment`.
    settings = load_settings(
        environment="production", database_url=url_of(engine), secret_key=TEST_SECRET_KEY
    )
    production = create_app(settings, database)
    add_crashing_route(production)
    transport = httpx.ASGITransport(app=production, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
        response = await client.get(path)

    assert response.status_code == status
    hsts = response.headers["strict-transport-security"]
    assert int(hsts.split("max-age=")[1].split(";")[0]) >= 31_536_000
    assert_security_headers(response)
