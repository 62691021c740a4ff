"""Admin edits carry the row's version: a stale or missing one saves nothing."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Product
from tests.auth_helpers import admin_csrf, admin_login
from tests.factories import make_product, make_user


def _form(product: Product, version: str | None, csrf: str) -> dict[str, str]:
    form = {
        "sku": product.sku,
        "name": "Changed",
        "description": "",
        "price": "9.99",
        "stock": "10",
        "reorder_level": "0",
        "is_active": "y",
        "csrf_token": csrf,
        "save": "Save",
    }
    if version is not None:
        form["version"] = version
    return form


async def _edit(
    client: httpx.AsyncClient, session: AsyncSession, version_of: object
) -> tuple[httpx.Response, Product]:
    user = await make_user(session, role="admin")
    product = await make_product(session)
    assert (await admin_login(client, user.email)).status_code == 302
    csrf = await admin_csrf(client, f"/admin/product/edit/{product.id}")
    version = version_of(product) if callable(version_of) else version_of
    response = await client.post(
        f"/admin/product/edit/{product.id}", data=_form(product, version, csrf)
    )
    await session.refresh(product)
    return response, product


async def test_an_edit_with_the_current_version_saves(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    response, product = await _edit(client, session, lambda p: str(p.version))
    assert response.status_code == 302
    assert product.name == "Changed"


async def test_an_edit_with_a_stale_version_saves_nothing(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    response, product = await _edit(client, session, "999")
    assert response.status_code == 400
    assert "Someone else changed this row" in response.text
    assert product.name != "Changed"


async def test_an_edit_without_a_version_saves_nothing(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    response, product = await _edit(client, session, None)
    assert response.status_code == 400
    assert product.name != "Changed"
