"""Product CSV import and export over the API (SPEC §6, §7): upsert by SKU, all or none,
line-numbered errors, dry runs, size limits, permissions, and a streamed export that filters
like the list — on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Product
from tests.api.order_helpers import (
    Caller,
    audit_rows,
    caller,
    count_audit_rows,
    outbox_events,
)
from tests.factories import make_product

IMPORT = "/api/v1/products/import"
EXPORT = "/api/v1/products/export.csv"
EXPORT_HEADER = ["sku", "name", "description", "price", "stock", "reorder_level", "is_active"]
CSV_LIMIT = 20 * 1024 * 1024


@pytest.fixture
async def manager(session: AsyncSession) -> Caller:
    return await caller(session, "manager")


def csv_headers(who: Caller) -> dict[str, str]:
    return {**who.headers, "Content-Type": "text/csv"}


async def upload(
    client: httpx.AsyncClient, who: Caller, data: bytes | str, **params: Any
) -> httpx.Response:
    """POST the CSV as a text/csv body."""
    content = data.encode() if isinstance(data, str) else data
    return await client.post(IMPORT, content=content, params=params, headers=csv_headers(who))


async def products_by_sku(session: AsyncSession, *skus: str) -> dict[str, Product]:
    statement = (
        select(Product).where(Product.sku.in_(skus)).execution_options(populate_existing=True)
    )
    return {product.sku: product for product in (await session.execute(statement)).scalars()}


def error_locs(response: httpx.Response) -> list[list[Any]]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    return [error["loc"] for error in response.json()["errors"]]


def csv_rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


# --- applying a file ---------------------------------------------------------------------------


async def test_a_valid_csv_upserts_rows_by_sku(
    client: httpx.AsyncClient, session: AsyncSession, manager: Caller
) -> None:
    existing = await make_product(session, sku="OLD-001", name="Old", price=Decimal("1.00"))
    old_id, old_version = existing.id, existing.version

    response = await upload(
        client,
        manager,
        "sku,name,description,price,stock,reorder_level,is_active\n"
        "OLD-001,Renamed,Now better,2.50,7,1,true\n"
        "NEW-001,Fresh,,3.00,10,2,false\n"
        "NEW-002,Another,,0,0,0,\n",
    )

    assert response.status_code == 200, response.text
    assert response.json() == {
        "rows": 3,
        "created": 2,
        "updated": 1,
        "dry_run": False,
        "applied": True,
        "errors": [],
    }
    rows = await products_by_sku(session, "OLD-001", "NEW-001", "NEW-002")
    updated = rows["OLD-001"]
    assert updated.id == old_id
    assert updated.version == old_version + 1
    assert (updated.name, updated.description, updated.price) == (
        "Renamed",
        "Now better",
        Decimal("2.50"),
    )
    assert (updated.stock, updated.reorder_level, updated.is_active) == (7, 1, True)
    fresh = rows["NEW-001"]
    assert (fresh.name, fresh.price, fresh.stock, fresh.reorder_level) == (
        "Fresh",
        Decimal("3.00"),
        10,
        2,
    )
    assert fresh.is_active is False
    assert fresh.version == 1
    assert rows["NEW-002"].is_active is True


async def test_only_the_required_columns_are_needed(
    client: httpx.AsyncClient, session: AsyncSession, manager: Caller
) -> None:
    response = await upload(client, manager, "price,name,sku\n4.00,Minimal,MIN-001\n")

    assert response.status_code == 200, response.text
    product = (await products_by_sku(session, "MIN-001"))["MIN-001"]
    assert (product.price, product.stock, product.reorder_level) == (Decimal("4.00"), 0, 0)


async def test_importing_the_same_file_twice_updates_the_rows_the_second_time(
    client: httpx.AsyncClient, session: AsyncSession, manager: Caller
) -> None:
    data = "sku,name,price\nTWICE-001,Twice,1.00\nTWICE-002,Twice too,2.00\n"

    first = await upload(client, manager, data)
    second = await upload(client, manager, data)

    assert (first.json()["created"], first.json()["updated"]) == (2, 0)
    assert (second.json()["created"], second.json()["updated"]) == (0, 2)
    rows = await products_by_sku(session, "TWICE-001", "TWICE-002")
    assert [rows[sku].version for sku in ("TWICE-001", "TWICE-002")] == [2, 2]


async def test_a_multipart_upload_in_the_field_file_is_applied(
    client: httpx.AsyncClient, session: AsyncSession, manager: Caller
) -> None:
    response = await client.post(
        IMPORT,
        files={
            "file": ("products.csv", b"sku,name,price\nFORM-001,From a form,5.00\n", "text/csv")
        },
        headers=manager.headers,
    )

    assert response.status_code == 200, response.text
    assert response.json()["created"] == 1
    assert "FORM-001" in await products_by_sku(session, "FORM-001")


async def test_a_multipart_upload_without_the_field_file_is_422(
    client: httpx.AsyncClient, manager: Caller
) -> None:
    response = await client.post(
        IMPORT,
        files={"upload": ("products.csv", b"sku,name,price\nFORM-002,Nope,5.00\n", "text/csv")},
        headers=manager.headers,
    )

    assert error_locs(response) == [["body", "file"]]


async def test_a_dry_run_reports_and_changes_nothing(
    client: httpx.AsyncClient, session: AsyncSession, manager: Caller
) -> None:
    existing = await make_product(session, sku="DRY-001", name="Before", price=Decimal("1.00"))
    version = existing.version
    audit_before = await count_audit_rows(session)

    response = await upload(
        client,
        manager,
        "sku,name,price\nDRY-001,After,9.00\nDRY-002,New,2.00\n",
        dry_run="true",
    )

    assert response.status_code == 200, response.text
    assert response.json() == {
        "rows": 2,
        "created": 1,
        "updated": 1,
        "dry_run": True,
        "applied": False,
        "errors": [],
    }
    rows = await products_by_sku(session, "DRY-001", "DRY-002")
    assert set(rows) == {"DRY-001"}
    assert (rows["DRY-001"].name, rows["DRY-001"].version) == ("Before", version)
    assert await count_audit_rows(session) == audit_before


async def test_an_import_is_audited(
    client: httpx.AsyncClient, session: AsyncSession, manager: Caller
) -> None:
    await make_product(session, sku="AUD-001")

    await upload(client, manager, "sku,name,price\nAUD-001,Again,1.00\nAUD-002,New,2.00\n")

    (event,) = await audit_rows(session, "product.imported")
    assert event.channel == "api"
    assert event.actor_user_id == manager.user.id
    assert event.token_id == manager.token_id
    assert event.resource_type == "product"
    assert event.changes["created"] == [None, 1]
    assert event.changes["updated"] == [None, 1]
    assert event.changes["skus"] == [None, ["AUD-001", "AUD-002"]]


async def test_an_import_dropping_stock_to_the_reorder_level_emits_low_stock(
    client: httpx.AsyncClient, session: AsyncSession, manager: Caller
) -> None:
    for sku in ("LOW-001", "LOW-002", "LOW-003"):
        await make_product(session, sku=sku, stock=20, reorder_level=5)

    await upload(
        client,
        manager,
        "sku,name,price,stock,reorder_level\n"
        "LOW-001,Low,1.00,5,5\nLOW-002,Fine,1.00,6,5\nLOW-003,Lower,1.00,0,5\n",
    )

    events = await outbox_events(session, "product.low_stock")
    assert [e.data["product"]["sku"] for e in events] == ["LOW-001", "LOW-003"]
    # The import's one audit row is written with the first event, not once per event.
    (audited,) = await audit_rows(session, "product.imported")
    assert audited.changes["updated"] == [None, 3]


# --- refusing a file ---------------------------------------------------------------------------


async def test_every_bad_line_is_reported_by_line_and_field_and_nothing_is_applied(
    client: httpx.AsyncClient, session: AsyncSession, manager: Caller
) -> None:
    audit_before = await count_audit_rows(session)
    data = (
        "sku,name,price,stock\n"  # line 1
        "GOOD-001,Good,1.00,1\n"
        "bad sku,Bad SKU,1.00,1\n"
        "NEG-001,Negative stock,1.00,-5\n"
        "DEC-001,Three decimals,1.005,1\n"
        "GOOD-001,Duplicate SKU,1.00,1\n"
        "LONG-001,Too many fields,1.00,1,surplus\n"
        "SHORT-001,Too few fields\n"
        "GOOD-002,Good too,2.00,2\n"  # line 9
    )

    response = await upload(client, manager, data)

    assert error_locs(response) == [
        ["line", 3, "sku"],
        ["line", 4, "stock"],
        ["line", 5, "price"],
        ["line", 6, "sku"],
        ["line", 7, "row"],
        ["line", 8, "price"],
    ]
    body = response.json()
    assert body["report"]["applied"] is False
    assert all(error["message"] for error in body["errors"])
    assert await products_by_sku(session, "GOOD-001", "GOOD-002") == {}
    assert await count_audit_rows(session) == audit_before


@pytest.mark.parametrize(
    ("header", "loc"),
    [
        ("sku,name,price,colour", ["line", 1, "colour"]),
        ("sku,name,stock", ["line", 1, "price"]),
        ("name,price", ["line", 1, "sku"]),
    ],
)
async def test_a_bad_header_is_reported_on_line_one(
    client: httpx.AsyncClient, session: AsyncSession, manager: Caller, header: str, loc: list[Any]
) -> None:
    width = len(header.split(","))
    data = f"{header}\n" + ",".join(["HDR-001", "Header", "1.00", "x"][:width]) + "\n"

    response = await upload(client, manager, data)

    assert error_locs(response) == [loc]
    assert await products_by_sku(session, "HDR-001") == {}


@pytest.mark.parametrize("dry_run", ["true", "false"])
async def test_a_header_cell_past_the_csv_field_limit_is_a_line_one_error(
    client: httpx.AsyncClient, manager: Caller, dry_run: str
) -> None:
    # Python's csv module refuses fields over 131,072 characters; in the header that was a 500.
    data = "sku,name,price," + "x" * 140_000 + "\nHDR-001,Header,1.00,x\n"

    response = await upload(client, manager, data, dry_run=dry_run)

    assert error_locs(response) == [["line", 1, "header"]]
    assert "field larger than field limit" in response.json()["errors"][0]["message"]


async def test_non_utf8_bytes_are_reported_by_line_and_field(
    client: httpx.AsyncClient, session: AsyncSession, manager: Caller
) -> None:
    data = b"sku,name,price\nUTF-001,Fine,1.00\nLAT-001,Caf\xe9 cr\xe8me,1.00\nUTF-002,Fine,1.00\n"

    response = await upload(client, manager, data)

    assert error_locs(response) == [["line", 3, "name"]]
    assert await products_by_sku(session, "UTF-001", "UTF-002", "LAT-001") == {}


async def test_non_utf8_bytes_in_the_header_are_reported_on_line_one(
    client: httpx.AsyncClient, manager: Caller
) -> None:
    response = await upload(client, manager, b"sku,n\xe4me,price\nUTF-003,Fine,1.00\n")

    assert [loc[:2] for loc in error_locs(response)] == [["line", 1]]


async def test_a_utf8_byte_order_mark_is_accepted(
    client: httpx.AsyncClient, session: AsyncSession, manager: Caller
) -> None:
    response = await upload(client, manager, "\ufeffsku,name,price\nBOM-001,Café,1.00\n".encode())

    assert response.status_code == 200, response.text
    assert (await products_by_sku(session, "BOM-001"))["BOM-001"].name == "Café"


async def test_nothing_is_applied_when_only_the_last_line_is_bad(
    client: httpx.AsyncClient, session: AsyncSession, manager: Caller
) -> None:
    good = [f"LAST-{n:03d},Product {n},1.00,1" for n in range(50)]
    data = "sku,name,price,stock\n" + "\n".join([*good, "LAST-999,Bad price,-1,1"]) + "\n"

    response = await upload(client, manager, data)

    assert error_locs(response) == [["line", 52, "price"]]
    assert await products_by_sku(session, "LAST-000", "LAST-049") == {}


async def test_a_file_without_rows_is_422(client: httpx.AsyncClient, manager: Caller) -> None:
    assert error_locs(await upload(client, manager, "sku,name,price\n")) == [["line", 1, "file"]]


async def test_a_csv_declared_over_20_mib_is_413(
    client: httpx.AsyncClient, session: AsyncSession, manager: Caller
) -> None:
    head = b"sku,name,price\nBIG-001,Big,1.00\n"
    data = head + b"#" * (CSV_LIMIT + 1 - len(head))

    response = await upload(client, manager, data)

    assert response.status_code == 413, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert await products_by_sku(session, "BIG-001") == {}


async def test_a_csv_streamed_past_20_mib_is_413(
    client: httpx.AsyncClient, session: AsyncSession, manager: Caller
) -> None:
    """No Content-Length to go by: the limit is enforced on the bytes as they arrive."""
    chunk = b"#" * (1024 * 1024)

    async def body() -> AsyncIterator[bytes]:
        yield b"sku,name,price\nBIG-002,Big,1.00\n"
        for _ in range(21):
            yield chunk

    response = await client.post(IMPORT, content=body(), headers=csv_headers(manager))

    assert response.status_code == 413, response.text
    assert await products_by_sku(session, "BIG-002") == {}


async def test_a_csv_just_under_the_limit_is_read(
    client: httpx.AsyncClient, session: AsyncSession, manager: Caller
) -> None:
    rows = "".join(f"NEAR-{n:05d},Product {n},1.00\n" for n in range(10))
    data = ("sku,name,price\n" + rows).encode()

    response = await upload(client, manager, data)

    assert response.status_code == 200, response.text
    assert response.json()["created"] == 10


# --- who may import ----------------------------------------------------------------------------


@pytest.mark.parametrize(("role", "status"), [("admin", 200), ("manager", 200)])
async def test_roles_with_products_import_may_import(
    client: httpx.AsyncClient, session: AsyncSession, role: str, status: int
) -> None:
    who = await caller(session, role)

    response = await upload(client, who, f"sku,name,price\nROLE-{role.upper()},R,1.00\n")

    assert response.status_code == status, response.text


@pytest.mark.parametrize("role", ["clerk", "viewer", None])
async def test_roles_without_products_import_get_403_and_change_nothing(
    client: httpx.AsyncClient, session: AsyncSession, role: str | None
) -> None:
    who = await caller(session, role)

    response = await upload(client, who, "sku,name,price\nDENIED-001,Denied,1.00\n")

    assert response.status_code == 403, response.text
    assert "products:import" in response.json()["detail"]
    assert await products_by_sku(session, "DENIED-001") == {}


async def test_an_anonymous_import_is_401(client: httpx.AsyncClient) -> None:
    response = await client.post(
        IMPORT, content=b"sku,name,price\nANON-001,A,1.00\n", headers={"Content-Type": "text/csv"}
    )

    assert response.status_code == 401


async def test_an_import_in_another_content_type_is_415(
    client: httpx.AsyncClient, manager: Caller
) -> None:
    response = await client.post(
        IMPORT, json={"sku": "JSON-001", "name": "J", "price": "1.00"}, headers=manager.headers
    )

    assert response.status_code == 415, response.text


# --- export ------------------------------------------------------------------------------------


async def test_the_export_streams_a_header_row_and_the_products(
    client: httpx.AsyncClient, session: AsyncSession, manager: Caller
) -> None:
    await make_product(
        session,
        sku="EXP-001",
        name="Exported, with a comma",
        description='Says "hi"',
        price=Decimal("12.5"),
        stock=3,
        reorder_level=1,
    )
    await make_product(session, sku="EXP-002", name="Inactive export", is_active=False)

    response = await client.get(EXPORT, headers=manager.headers)

    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = csv_rows(response.text)
    assert rows[0] == EXPORT_HEADER
    by_sku = {row[0]: row for row in rows[1:]}
    assert by_sku["EXP-001"] == [
        "EXP-001",
        "Exported, with a comma",
        'Says "hi"',
        "12.50",
        "3",
        "1",
        "true",
    ]
    assert by_sku["EXP-002"][-1] == "false"


async def test_the_export_filters_sorts_and_searches_like_the_list(
    client: httpx.AsyncClient, session: AsyncSession, manager: Caller
) -> None:
    for sku, price, name in [
        ("SORT-001", "5.00", "Cheap gadget"),
        ("SORT-002", "15.00", "Mid gadget"),
        ("SORT-003", "25.00", "Dear gadget"),
        ("SORT-004", "20.00", "Dear widget"),
    ]:
        await make_product(session, sku=sku, price=Decimal(price), name=name)

    by_price = await client.get(
        EXPORT, params={"price_gte": "10", "sort": "-price"}, headers=manager.headers
    )
    searched = await client.get(
        EXPORT, params={"q": "gadget", "sort": "sku"}, headers=manager.headers
    )
    listed = await client.get(
        "/api/v1/products",
        params={"price_gte": "10", "sort": "-price", "limit": "200"},
        headers=manager.headers,
    )

    exported = [row[0] for row in csv_rows(by_price.text)[1:]]
    assert exported == ["SORT-003", "SORT-004", "SORT-002"]
    assert exported == [item["sku"] for item in listed.json()["items"]]
    assert [row[0] for row in csv_rows(searched.text)[1:]] == ["SORT-001", "SORT-002", "SORT-003"]


async def test_the_export_of_an_empty_selection_is_just_the_header(
    client: httpx.AsyncClient, manager: Caller
) -> None:
    response = await client.get(
        EXPORT, params={"q": "no product is called this"}, headers=manager.headers
    )

    assert csv_rows(response.text) == [EXPORT_HEADER]


@pytest.mark.parametrize(
    "params", [{"colour": "red"}, {"sort": "password"}, {"price_gte": "cheap"}]
)
async def test_an_export_with_a_bad_parameter_is_422(
    client: httpx.AsyncClient, manager: Caller, params: dict[str, str]
) -> None:
    response = await client.get(EXPORT, params=params, headers=manager.headers)

    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_an_exported_file_imports_back_as_updates_only(
    client: httpx.AsyncClient, session: AsyncSession, manager: Caller
) -> None:
    for n in range(3):
        await make_product(session, sku=f"ROUND-{n:03d}", name=f"Round trip {n}")

    exported = await client.get(EXPORT, params={"q": "Round trip"}, headers=manager.headers)
    response = await upload(client, manager, exported.content)

    assert response.status_code == 200, response.text
    assert (response.json()["created"], response.json()["updated"]) == (0, 3)


async def test_the_export_needs_products_read(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    nobody = await caller(session, None)
    viewer = await caller(session, "viewer")

    refused = await client.get(EXPORT, headers=nobody.headers)
    allowed = await client.get(EXPORT, headers=viewer.headers)
    anonymous = await client.get(EXPORT)

    assert refused.status_code == 403, refused.text
    assert "products:read" in refused.json()["detail"]
    assert allowed.status_code == 200
    assert anonymous.status_code == 401
