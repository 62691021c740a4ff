"""Baselines (a) and (b) of SPEC §11 for GET /api/v1/products?limit=50, as Starlette apps.

BASELINE_MODE=ceiling: the first page, fetched once at start-up, answered from memory with
no authentication and no database: what the ASGI server and Starlette cost on their own.

BASELINE_MODE=floor: the same work as the product with nothing in between: one asyncpg
query resolving the bearer token (SHA-256 digest in api_tokens, its owner and roles), a
permission check, one keyset query for the page, orjson out, a signed next cursor.

Run from this directory with the baselines' venv:
    BASELINE_DATABASE_URL=postgresql://… BASELINE_SECRET=… BASELINE_MODE=floor \
        uvicorn asgi_app:app --port 8001
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

DATABASE_URL = os.environ["BASELINE_DATABASE_URL"]
SECRET = os.environ["BASELINE_SECRET"].encode()
MODE = os.environ.get("BASELINE_MODE", "floor")
DEFAULT_LIMIT, MAX_LIMIT = 50, 200
# The product's pool: DB_POOL_SIZE + DB_MAX_OVERFLOW = 10 connections per worker.
POOL_SIZE = 10

PAGE_SQL = (
    "SELECT id, sku, name, description, price, stock, reorder_level, is_active, version, "
    "created_at, updated_at FROM products WHERE id > $1 ORDER BY id LIMIT $2"
)
TOKEN_SQL = (
    "SELECT t.scopes, u.is_active, r.permissions FROM api_tokens t "
    "JOIN users u ON u.id = t.user_id "
    "LEFT JOIN user_roles ur ON ur.user_id = u.id LEFT JOIN roles r ON r.id = ur.role_id "
    "WHERE t.token_hash = $1 AND t.revoked_at IS NULL "
    "AND (t.expires_at IS NULL OR t.expires_at > now())"
)
PROBLEM = "application/problem+json"


def _sign(last_id: int) -> str:
    body = base64.urlsafe_b64encode(str(last_id).encode()).decode().rstrip("=")
    mac = hmac.new(SECRET, body.encode(), hashlib.sha256).hexdigest()[:32]
    return f"{body}.{mac}"


def _unsign(cursor: str) -> int | None:
    body, _, mac = cursor.partition(".")
    expected = hmac.new(SECRET, body.encode(), hashlib.sha256).hexdigest()[:32]
    if not hmac.compare_digest(mac, expected):
        return None
    try:
        return int(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except ValueError:
        return None


def _page_body(rows: list[asyncpg.Record], limit: int) -> bytes:
    more = len(rows) > limit
    rows = rows[:limit]
    items = [dict(row) | {"price": f"{row['price']:.2f}"} for row in rows]
    cursor = _sign(rows[-1]["id"]) if more else None
    return orjson.dumps({"items": items, "next_cursor": cursor}, option=orjson.OPT_UTC_Z)


def _problem(status: int, title: str) -> Response:
    body = orjson.dumps({"type": "about:blank", "title": title, "status": status})
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return Response(body, status_code=status, media_type=PROBLEM, headers=headers)


async def _json_codec(connection: asyncpg.Connection) -> None:
    await connection.set_type_codec(
        "jsonb",
        encoder=lambda v: orjson.dumps(v).decode(),
        decoder=orjson.loads,
        schema="pg_catalog",
    )


async def _permissions(connection: asyncpg.Connection, token: str) -> set[str] | None:
    rows = await connection.fetch(TOKEN_SQL, hashlib.sha256(token.encode()).hexdigest())
    if not rows or not rows[0]["is_active"]:
        return None
    granted: set[str] = set()
    for row in rows:
        granted.update(row["permissions"] or ())
    scopes = rows[0]["scopes"]
    return granted & set(scopes) if scopes else granted


async def floor(request: Request) -> Response:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        return _problem(401, "Not authenticated")
    raw_limit = request.query_params.get("limit", str(DEFAULT_LIMIT))
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_LIMIT:
        return _problem(422, "Invalid limit")
    limit = int(raw_limit)
    after = 0
    if cursor := request.query_params.get("cursor"):
        decoded = _unsign(cursor)
        if decoded is None:
            return _problem(400, "Invalid cursor")
        after = decoded
    pool: asyncpg.Pool = request.app.state.pool
    async with pool.acquire() as connection:
        permissions = await _permissions(connection, token.strip())
        if permissions is None:
            return _problem(401, "Not authenticated")
        if "products:read" not in permissions:
            return _problem(403, "Forbidden")
        rows = await connection.fetch(PAGE_SQL, after, limit + 1)
    return Response(_page_body(rows, limit), media_type="application/json")


async def ceiling(request: Request) -> Response:
    return Response(request.app.state.page, media_type="application/json")


async def healthz(_: Request) -> Response:
    return Response(b'{"status":"ok"}', media_type="application/json")


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    if MODE == "ceiling":
        connection = await asyncpg.connect(DATABASE_URL)
        try:
            app.state.page = _page_body(await connection.fetch(PAGE_SQL, 0, DEFAULT_LIMIT + 1), 50)
        finally:
            await connection.close()
        yield
        return
    app.state.pool = await asyncpg.create_pool(
        DATABASE_URL, min_size=POOL_SIZE, max_size=POOL_SIZE, init=_json_codec
    )
    try:
        yield
    finally:
        await app.state.pool.close()


app = Starlette(
    routes=[
        Route("/api/v1/products", ceiling if MODE == "ceiling" else floor),
        Route("/healthz", healthz),
    ],
    lifespan=lifespan,
)
