"""SPEC §14 "Unauthenticated callers are cheap": an admin form body is capped at 64 KiB
before anything parses it (anonymous POSTs were read up to 21 MiB: six took a worker from
182 to 312 MB), and the import page's upload is read only after the session is checked.

Bodies are streamed in chunks and the test counts how many the app asked for."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from app.admin.csrf import MAX_FORM_BYTES, MAX_UPLOAD_BYTES
from tests.admin.hostile import admin_browser
from tests.auth_helpers import admin_csrf, client_for

CHUNK = 16 * 1024
# How many chunks reading up to the cap takes, and one more that passes it.
CHUNKS_TO_PASS_THE_CAP = MAX_FORM_BYTES // CHUNK + 1


class Stream:
    """A request body of `chunks` × CHUNK bytes that counts what the app consumed."""

    def __init__(self, chunks: int, head: bytes = b"", tail: bytes = b"") -> None:
        self.chunks = chunks
        self.head = head
        self.tail = tail
        self.consumed = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for index in range(self.chunks):
            self.consumed += 1
            last = index == self.chunks - 1
            yield (self.head if index == 0 else b"") + b"a" * CHUNK + (self.tail if last else b"")


FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.mark.parametrize(
    "path", ["/admin/login", "/admin/logout", "/admin/customer/create", "/admin/account"]
)
async def test_an_anonymous_big_form_is_refused_after_the_cap_not_read_to_the_end(
    app: FastAPI, path: str
) -> None:
    body = Stream(chunks=21 * 64)  # 21 MiB
    async with client_for(app) as browser:
        token = await admin_csrf(browser)
        response = await browser.post(path, content=body, headers=FORM | {"X-CSRF-Token": token})

    assert response.status_code == 413
    assert "Too large" in response.text
    assert body.consumed <= CHUNKS_TO_PASS_THE_CAP


async def test_a_declared_length_over_the_cap_is_refused_unread(app: FastAPI) -> None:
    body = Stream(chunks=4)
    async with client_for(app) as browser:
        response = await browser.post(
            "/admin/login",
            content=body,
            headers=FORM | {"Content-Length": str(MAX_FORM_BYTES + 1)},
        )

    assert response.status_code == 413
    assert body.consumed == 0


async def test_a_logged_in_form_over_the_cap_is_refused_too(
    app: FastAPI, session: AsyncSession
) -> None:
    async with admin_browser(app, session) as (browser, token):
        body = Stream(chunks=8, head=f"csrf_token={token}&name=".encode())
        response = await browser.post("/admin/customer/create", content=body, headers=FORM)

    assert response.status_code == 413
    assert body.consumed <= CHUNKS_TO_PASS_THE_CAP


async def test_a_form_under_the_cap_still_works(app: FastAPI, session: AsyncSession) -> None:
    async with admin_browser(app, session) as (browser, token):
        response = await browser.post(
            "/admin/customer/create",
            data={"name": "Under the cap", "email": "cap@example.com", "notes": "n" * 9_000}
            | {"csrf_token": token},
        )

    assert response.status_code == 302


def multipart_stream(token: str, chunks: int) -> tuple[Stream, dict[str, str]]:
    """A multipart upload whose file part is `chunks` × CHUNK bytes (the token field first)."""
    boundary = "bo-test-boundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n{token}\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="p.csv"\r\n'
        "Content-Type: text/csv\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    return Stream(chunks, head=head, tail=tail), {
        "Content-Type": f"multipart/form-data; boundary={boundary}"
    }


async def test_an_anonymous_upload_to_the_import_page_is_refused_unread(app: FastAPI) -> None:
    async with client_for(app) as browser:
        token = await admin_csrf(browser)  # the login page's session has a CSRF secret
        body, headers = multipart_stream(token, chunks=21 * 64)
        with_session = await browser.post("/admin/product-import", content=body, headers=headers)
    async with client_for(app) as stranger:
        bare, headers = multipart_stream("forged", chunks=21 * 64)
        without = await stranger.post("/admin/product-import", content=bare, headers=headers)

    assert with_session.status_code == 302  # to the login page
    assert with_session.headers["location"].endswith("/admin/login")
    assert body.consumed == 0
    assert without.status_code == 403
    assert bare.consumed == 0


async def test_a_staff_upload_with_a_forged_token_is_refused(
    app: FastAPI, session: AsyncSession
) -> None:
    async with admin_browser(app, session) as (browser, _):
        body, headers = multipart_stream("forged.token", chunks=8)
        response = await browser.post("/admin/product-import", content=body, headers=headers)

    assert response.status_code == 403


async def test_a_staff_upload_past_the_import_limit_is_refused_at_the_limit(
    app: FastAPI, session: AsyncSession
) -> None:
    async with admin_browser(app, session) as (browser, token):
        body, headers = multipart_stream(token, chunks=MAX_UPLOAD_BYTES // CHUNK + 64)
        response = await browser.post("/admin/product-import", content=body, headers=headers)

    assert response.status_code == 413
    assert body.consumed <= MAX_UPLOAD_BYTES // CHUNK + 1


async def test_a_staff_upload_bigger_than_a_form_is_imported(
    app: FastAPI, session: AsyncSession
) -> None:
    rows = "".join(f"CAP-{n:05d},Gear {n},1.00\n" for n in range(4000))
    csv = ("sku,name,price\n" + rows).encode()
    assert len(csv) > MAX_FORM_BYTES
    async with admin_browser(app, session) as (browser, token):
        response = await browser.post(
            "/admin/product-import",
            data={"csrf_token": token, "mode": "dry-run"},
            files={"file": ("p.csv", csv, "text/csv")},
        )

    assert response.status_code == 200, response.text[-500:]
    assert isinstance(response, httpx.Response)
