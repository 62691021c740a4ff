"""A client generated from the served OpenAPI document does the whole flow, typed.

openapi-python-client (a third-party generator) reads `/openapi.json` as the app serves it
and writes a package; the test then uses only that package: named operations
(`list_products`, `place_order`), the conditional and idempotency headers as arguments,
response headers read per call, enums as types, and problems parsed as `Problem`. A
renamed operation, an undeclared header or a schema the generator cannot read fails here.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from app.main import create_app
from tests.api.domain_helpers import token_caller
from tests.conftest import test_settings as settings_for
from tests.factories import make_product

PACKAGE = "backoffice_client"
# Installed by `make test` in an environment of its own (it pins an older typer than ours).
GENERATOR = Path(__file__).resolve().parents[2] / ".venv-tools" / "bin" / "openapi-python-client"
BASE_URL = "http://testserver"


async def _served_document() -> dict[str, Any]:
    app = create_app(settings_for("sqlite+aiosqlite:///:memory:"))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
        response = await client.get("/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """The package openapi-python-client writes from the served document, imported."""
    import asyncio

    if not GENERATOR.exists():
        pytest.skip(f"{GENERATOR} is missing: `make test` installs it")
    folder = tmp_path_factory.mktemp("generated")
    document = folder / "openapi.json"
    document.write_text(json.dumps(asyncio.run(_served_document())))
    env = {**os.environ, "PATH": f"{GENERATOR.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    result = subprocess.run(
        [
            str(GENERATOR),
            "generate",
            "--path",
            str(document),
            "--meta",
            "none",
            "--output-path",
            str(folder / PACKAGE),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # The generator's one warning: it writes no function for a text/csv body (the import
    # is documented, but this generator does not support the media type).
    output = result.stdout + result.stderr
    warnings = [line for line in output.splitlines() if line.startswith("WARNING")]
    assert warnings == ["WARNING parsing POST /api/v1/products/import within products."], output
    sys.path.insert(0, str(folder))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(folder))
        for name in [name for name in sys.modules if name.split(".")[0] == PACKAGE]:
            del sys.modules[name]


def _module(package: ModuleType, name: str) -> Any:
    return importlib.import_module(f"{package.__name__}.{name}")


async def test_a_generated_client_lists_creates_updates_replays_and_places(
    app: FastAPI, session: AsyncSession, generated: ModuleType
) -> None:
    _, auth = await token_caller(session)
    for sku in ("GEN-001", "GEN-002", "GEN-003"):
        await make_product(session, sku=sku, stock=10)
    await session.flush()
    api = _module(generated, "client").AuthenticatedClient(base_url=BASE_URL, token="unused")
    api.set_async_httpx_client(
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL, headers=auth)
    )
    models = _module(generated, "models")
    products = {
        name: _module(generated, f"api.products.{name}")
        for name in ("list_products", "read_product", "update_product", "create_product")
    }
    customers = _module(generated, "api.customers.create_customer")
    orders = {
        name: _module(generated, f"api.orders.{name}")
        for name in ("create_order", "add_order_item", "place_order")
    }

    # List with paging: two pages of two, by SKU, through the typed sort enum.
    seen: list[str] = []
    first = await products["list_products"].asyncio(
        client=api, limit=2, sort=models.ListProductsSort.SKU
    )
    seen += [item.sku for item in first.items]
    second = await products["list_products"].asyncio(
        client=api, limit=2, sort=models.ListProductsSort.SKU, cursor=first.next_cursor
    )
    seen += [item.sku for item in second.items]
    assert seen == ["GEN-001", "GEN-002", "GEN-003"]
    assert models.ListProductsSort.SKU_DESC.value == "-sku"

    # Create: 201 with Location and ETag read from the call's own response.
    created = await products["create_product"].asyncio_detailed(
        client=api,
        body=models.ProductCreate(sku="GEN-100", name="Generated", price="12.50", stock=5),
        idempotency_key="gen-create-product",
    )
    assert created.status_code == 201
    product = created.parsed
    assert created.headers["location"] == f"/api/v1/products/{product.id}"
    assert created.headers["etag"] == f'"{product.version}"'

    # Conditional update: the ETag read goes back as If-Match; a stale one is a typed 412.
    read = await products["read_product"].asyncio_detailed(client=api, product_id=product.id)
    etag = read.headers["etag"]
    updated = await products["update_product"].asyncio_detailed(
        client=api,
        product_id=product.id,
        body=models.ProductUpdate(price="13.00"),
        if_match=etag,
    )
    assert updated.status_code == 200 and updated.parsed.price == "13.00"
    stale = await products["update_product"].asyncio_detailed(
        client=api,
        product_id=product.id,
        body=models.ProductUpdate(price="14.00"),
        if_match=etag,
    )
    assert stale.status_code == 412
    assert isinstance(stale.parsed, models.Problem) and stale.parsed.status == 412

    # Idempotent replay: the same key and body answer the first call's customer again.
    body = models.CustomerCreate(name="Gen Customer", email="gen@example.com")
    once = await customers.asyncio_detailed(client=api, body=body, idempotency_key="gen-c-1")
    again = await customers.asyncio_detailed(client=api, body=body, idempotency_key="gen-c-1")
    assert once.status_code == again.status_code == 201
    assert again.parsed.id == once.parsed.id
    assert again.headers["x-request-id"]

    # An order from draft to placed, its status a typed enum.
    order = await orders["create_order"].asyncio(
        client=api, body=models.OrderCreate(customer_id=once.parsed.id)
    )
    assert order.status == models.OrderReadStatus.DRAFT
    await orders["add_order_item"].asyncio(
        client=api,
        order_id=order.id,
        body=models.OrderItemCreate(product_id=product.id, quantity=2),
    )
    placed = await orders["place_order"].asyncio_detailed(client=api, order_id=order.id)
    assert placed.status_code == 200
    assert placed.parsed.status == models.OrderReadStatus.PLACED
    assert placed.parsed.total == "26.00"
    again_placed = await orders["place_order"].asyncio_detailed(client=api, order_id=order.id)
    assert again_placed.status_code == 409
    assert isinstance(again_placed.parsed, models.Problem)
