"""HTTP helpers: admin login through the CSRF form, cursors, sanity checks, CSV in and out."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

import httpx

from app.lists.cursors import CursorCodec
from bench.database import Credentials

SESSION_COOKIES = ("__Host-bo_session", "bo_session")
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _session_cookie(response: httpx.Response) -> str | None:
    # Read from Set-Cookie by hand: in production the cookie is Secure (and __Host-), which
    # a cookie jar would never send back over the benchmark's plain http.
    for header in response.headers.get_list("set-cookie"):
        pair = header.split(";", 1)[0].strip()
        if pair.split("=", 1)[0] in SESSION_COOKIES:
            return pair
    return None


async def admin_cookie(client: httpx.AsyncClient, credentials: Credentials) -> str:
    """Log in at /admin/login (CSRF form); the `Cookie` header value of the new session."""
    page = await client.get("/admin/login")
    cookie, match = _session_cookie(page), CSRF_FIELD.search(page.text)
    if page.status_code != 200 or cookie is None or match is None:
        raise RuntimeError(f"admin login page: HTTP {page.status_code}, no form or cookie")
    response = await client.post(
        "/admin/login",
        data={
            "username": credentials.email,
            "password": credentials.password,
            "csrf_token": match.group(1),
        },
        headers={"Cookie": cookie},
        follow_redirects=False,
    )
    session = _session_cookie(response)
    if response.status_code != 302 or session is None:
        raise RuntimeError(f"admin login refused: HTTP {response.status_code}")
    return session


def api_cursor(secret_key: str, after_id: int) -> str:
    """The API's next_cursor for "rows after id `after_id`" in the default (id) order."""
    return CursorCodec(secret_key).encode("id", after_id, after_id)


def admin_cursor(secret_key: str, after_id: int) -> str:
    """The admin product list's `after` cursor (default order: id descending)."""
    return CursorCodec(secret_key).encode("-id", after_id, after_id)


async def page_ids(client: httpx.AsyncClient, url: str, headers: dict[str, str]) -> list[int]:
    """The ids of a JSON list page; raises unless it is a 200 with items."""
    response = await client.get(url, headers=headers)
    if response.status_code != 200:
        raise RuntimeError(f"GET {url}: HTTP {response.status_code} {response.text[:200]}")
    return [item["id"] for item in response.json()["items"]]


async def expect_status(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    status: int,
    headers: dict[str, str],
    content: bytes | None = None,
) -> httpx.Response:
    response = await client.request(method, url, headers=headers, content=content)
    if response.status_code != status:
        detail = response.text[:300]
        raise RuntimeError(f"{method} {url}: HTTP {response.status_code}, not {status}: {detail}")
    return response


@dataclass(frozen=True)
class Transfer:
    """A timed CSV request."""

    seconds: float
    lines: int
    size_mb: float
    detail: dict[str, object]


async def export_csv(client: httpx.AsyncClient, token: str) -> Transfer:
    """Stream GET /api/v1/products/export.csv to nowhere, counting lines."""
    started, lines, size = time.perf_counter(), 0, 0
    url = "/api/v1/products/export.csv"
    async with client.stream("GET", url, headers=bearer(token), timeout=None) as response:
        if response.status_code != 200:
            raise RuntimeError(f"export: HTTP {response.status_code}")
        async for chunk in response.aiter_raw():
            lines += chunk.count(b"\n")
            size += len(chunk)
    return Transfer(time.perf_counter() - started, lines, size / 1e6, {})


def import_file(rows: int) -> bytes:
    """A product CSV of `rows` lines (new SKUs, distinct from the seeded ones)."""
    lines = ["sku,name,description,price,stock,reorder_level,is_active"]
    lines += [
        f"IMP-{n:07d},Imported Oak Widget {n},Imported by the benchmark,{n % 500}.95,"
        f"{n % 300},{n % 20},{'true' if n % 19 else 'false'}"
        for n in range(1, rows + 1)
    ]
    return ("\n".join(lines) + "\n").encode()


async def import_csv(client: httpx.AsyncClient, token: str, data: bytes) -> Transfer:
    """POST the CSV to /api/v1/products/import and wait for the report."""
    started = time.perf_counter()
    response = await client.post(
        "/api/v1/products/import",
        content=data,
        headers={**bearer(token), "Content-Type": "text/csv"},
        timeout=None,
    )
    seconds = time.perf_counter() - started
    if response.status_code != 200:
        raise RuntimeError(f"import: HTTP {response.status_code} {response.text[:300]}")
    report = response.json()
    return Transfer(seconds, data.count(b"\n") - 1, len(data) / 1e6, report)
